"""The local-explanation sample: the SDK writes the documented Parquet layout, the server reads the
footer (no pyarrow needed there) and enforces the row limit and the columns."""

from __future__ import annotations

import io

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from tests.api.helpers import assert_error  # noqa: E402
from tests.explain.helpers import new_reviewer, promote, put_version  # noqa: E402
from tests.registry.helpers import create_model, register, training_run  # noqa: E402
from tether.explain import write_local_sample  # noqa: E402
from tether_server.errors import InvalidArgument  # noqa: E402
from tether_server.services.explain.local import check_layout  # noqa: E402
from tether_server.services.explain.parquet_footer import read_footer  # noqa: E402


def _sample(tmp_path, n: int = 50) -> bytes:
    path = tmp_path / f"s{n}.parquet"
    write_local_sample(
        path,
        inputs={"age": list(range(n)), "region": ["north"] * n},
        attributions={"age": [0.1] * n, "region": [-0.05] * n},
        predictions=[0.5] * n,
        row_ids=[f"r{i}" for i in range(n)],
    )
    return path.read_bytes()


def _table_bytes(cols: dict, **kw) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("rows", [1, 999, 5000])
@pytest.mark.parametrize("kw", [{}, {"row_group_size": 100, "compression": "zstd"}])
def test_footer_matches_pyarrow(rows, kw):
    data = _table_bytes({"a": list(range(rows)), "s": ["x"] * rows, "f": [1.5] * rows}, **kw)
    f = read_footer(data)
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    assert f.num_rows == meta.num_rows == rows
    assert [(c.name, c.physical) for c in f.columns] == [("a", "INT64"), ("s", "BYTE_ARRAY"), ("f", "DOUBLE")]


@pytest.mark.parametrize(
    "cols,field",
    [
        ({"input.a": [1], "attribution.a": [0.1]}, "prediction"),
        ({"prediction": [1], "attribution.a": [0.1]}, "columns"),
        ({"prediction": [1], "input.a": [1], "attribution.a": ["x"]}, "attribution.a"),
        ({"prediction": [1], "input.a": [1], "attribution.a": [0.1], "secret": [1]}, "secret"),
        ({"prediction": [1], "input.a": [{"x": 1}], "attribution.a": [0.1]}, "columns"),
    ],
)
def test_layout_errors_name_the_column(cols, field):
    with pytest.raises(InvalidArgument) as e:
        check_layout(_table_bytes(cols))
    assert e.value.details["field"] == field


def test_not_parquet():
    for data in (b"", b"PAR1", b"hello world, not parquet", b"PAR1" + b"\x00" * 20 + b"PAR1"):
        with pytest.raises(InvalidArgument):
            check_layout(data)


def test_upload_download_and_production_rule(client, auth, users, tmp_path, backend):
    rid = training_run(client, auth)
    model = create_model(client, auth)
    register(client, auth, "churn", rid)
    url = "/api/v1/models/churn/versions/1/explanation/local"
    data = _sample(tmp_path)
    hdr = {**auth, "Content-Type": "application/vnd.apache.parquet"}
    assert_error(client.put(url, data=data, headers=hdr), 409, "FAILED_PRECONDITION")  # no global one yet
    put_version(client, auth, "churn", 1, {"importances": {"age": 0.1, "region": 0.05}, "method": "shap"})
    r = client.put(url, data=data, headers=hdr)
    assert r.status_code == 200, r.json
    assert r.json["local_sample"]["rows"] == 50 and r.json["local_sample"]["size"] == len(data)
    got = client.get(url, headers=auth)
    assert (
        got.status_code == 200
        and got.data == data
        and got.headers["X-Content-SHA256"] == r.json["local_sample"]["sha256"]
    )
    back = pq.read_table(io.BytesIO(got.data))
    assert back.column("input.region").to_pylist()[0] == "north"

    too_many = _table_bytes(
        {"prediction": [1.0] * 1001, "input.age": [1] * 1001, "attribution.age": [0.1] * 1001}
    )
    err = assert_error(client.put(url, data=too_many, headers=hdr), 400, "INVALID_ARGUMENT")
    assert err["details"]["rows"] == 1001 and err["details"]["limit"] == 1000
    assert_error(client.put(url, data=b"nope", headers=hdr), 400, "INVALID_ARGUMENT")

    rev = new_reviewer(client, auth, users, model["id"])
    promote(client, auth, rev, "churn", 1)
    assert_error(client.put(url, data=data, headers=hdr), 409, "FAILED_PRECONDITION")


def test_sdk_writer_refuses_more_than_1000_rows(tmp_path):
    with pytest.raises(ValueError, match="1000"):
        write_local_sample(tmp_path / "x.parquet", {"a": [1] * 1001}, {"a": [0.1] * 1001}, [1] * 1001)


def test_gc_keeps_the_sample(app, client, auth, tmp_path):
    from tether_server.runtime import Runtime
    from tether_server.services.artifacts import gc

    rid = training_run(client, auth)
    create_model(client, auth)
    register(client, auth, "churn", rid)
    put_version(client, auth, "churn", 1, {"importances": {"age": 0.1}, "method": "shap"})
    url = "/api/v1/models/churn/versions/1/explanation/local"
    assert client.put(url, data=_sample(tmp_path), headers=auth).status_code == 200
    rt = Runtime.of(app)
    with rt.database.session(write=False) as s:
        report = gc.collect(s, rt.store, grace_ms=-10_000, dry_run=True)
    assert not [k for k in report.orphans if "/explanations/" in k]
    assert client.get(url, headers=auth).status_code == 200
