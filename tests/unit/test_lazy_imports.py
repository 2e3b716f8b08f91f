"""numpy and scipy load on first use: an idle server (and every gunicorn worker that only serves
tracking and registry calls) never carries them, and the statistics still work once asked for."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from tether_server._lazy import LazyModule


def _runs_ok_in_a_fresh_interpreter(code: str, data_dir) -> None:
    """``code`` runs in a new Python (nothing imported yet) on an empty data folder and prints ok."""
    env = {"TETHER_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "TETHER_WEBHOOK_WORKER": "false"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_an_app_that_computed_nothing_has_not_loaded_numpy_or_scipy(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        from tether_server import create_app
        from tether_server.config import Settings
        app = create_app(Settings.from_env())
        assert app.test_client().get("/api/v1/health").status_code == 200
        loaded = sorted(m for m in ("numpy", "scipy", "scipy.special") if m in sys.modules)
        assert not loaded, loaded
        from tether_server.stats import drift
        assert abs(float(drift.psi([50, 50], [50, 50]))) < 1e-12
        assert float(drift.psi_noise_floor(10, 500, 500)) > 0  # scipy.special through its proxy
        assert "numpy" in sys.modules and "scipy.special" in sys.modules
        print("ok")
        """
    )
    _runs_ok_in_a_fresh_interpreter(code, tmp_path)


def test_lazy_module_loads_once_under_concurrent_first_use_and_sees_later_rebinding(monkeypatch):
    lazy = LazyModule("json")
    assert "not loaded" in repr(lazy)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(lazy.dumps)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    import json

    assert got == [json.dumps] * 8
    assert "loaded" in repr(lazy) and "not" not in repr(lazy)
    assert lazy.loads('{"a": 1}') == {"a": 1}
    monkeypatch.setattr(json, "dumps", lambda obj: "patched")  # as a test patches an area's function
    assert lazy.dumps({}) == "patched"
    monkeypatch.undo()
    assert lazy.dumps({}) == "{}"
    monkeypatch.setattr(lazy, "dumps", lambda obj: "through the proxy")  # writes reach the module
    assert json.dumps({}) == "through the proxy"
    monkeypatch.undo()
    assert json.dumps({}) == "{}" and "dumps" not in vars(type(lazy))


def test_an_app_with_metrics_off_and_the_cli_before_fork_load_only_what_they_use(tmp_path):
    """Metrics off: no prometheus_client. The server's use of ``tether._pathrules`` does not pull the
    SDK. ``tether server``'s pre-fork imports (settings, migrations, bootstrap) leave Flask unloaded."""
    code = textwrap.dedent(
        """
        import sys
        import tether_server.errors, tether_server.jsonutil, tether_server.migrate
        import tether_server.services.identity.bootstrap
        import tether_server.cli.server
        web = sorted(m for m in ("flask", "marshmallow", "flask_smorest", "tether._client") if m in sys.modules)
        assert not web, web
        from tether_server import create_app
        from tether_server.config import Settings
        app = create_app(Settings.from_env())
        assert app.test_client().get("/api/v1/health").status_code == 200
        loaded = sorted(m for m in ("prometheus_client", "tether._client", "tether.resources") if m in sys.modules)
        assert not loaded, loaded
        print("ok")
        """
    )
    _runs_ok_in_a_fresh_interpreter(code, tmp_path)


def test_tether_names_resolve_lazily_to_the_objects_their_modules_define():
    code = textwrap.dedent(
        """
        import sys, importlib
        import tether
        assert "tether._client" not in sys.modules
        for name in tether.__all__:
            value = getattr(tether, name)
            if name == "__version__":
                continue
            module, attr = tether._EXPORTS[name]
            target = importlib.import_module(module, "tether")
            assert value is (target if attr is None else getattr(target, attr)), name
        assert set(tether.__all__) - {"__version__"} == set(tether._EXPORTS)
        assert set(tether.__all__) <= set(dir(tether))
        try:
            tether.no_such_name
        except AttributeError as e:
            assert "no_such_name" in str(e)
        else:
            raise AssertionError("unknown names must raise AttributeError")
        ns = {}
        exec("from tether import *", ns)
        assert ns["Client"] is tether.Client and ns["RunInfo"] is tether.types.Run
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


_AREAS = (
    "tether_server.services.monitoring",
    "tether_server.services.abtests",
    "tether_server.models.monitoring",
    "tether_server.models.abtests",
    "tether_server.services.explain.card",
    "tether_server.services.explain.explanations",
    "tether_server.api.mlflow.tracking",
    "tether_server.ui.pages_tracking",
)


def test_the_monitoring_and_ab_areas_load_on_first_use(tmp_path):
    """A server that serves tracking and registry calls, and runs its workers, maps neither area's
    tables nor loads their code, nor the MLflow layer's or the UI's views; the routes are still
    there (and documented), and the first call loads what it needs and answers as usual."""
    code = textwrap.dedent(
        f"""
        import sys
        from tether_server import create_app
        from tether_server.config import Settings
        from tether_server.runtime import Runtime
        from tether_server.services.identity import users
        app = create_app(Settings.from_env())  # migrated by another process, as `tether server` does
        rt = Runtime.of(app)
        with rt.database.transaction() as s:
            _t, token = users.create_token(s, None, users.create_user(s, None, "root", "admin"), "t")
        c = app.test_client()
        h = {{"Authorization": "Bearer " + token}}
        assert c.get("/api/v1/health").status_code == 200
        assert c.post("/api/v1/experiments", json={{"name": "e"}}, headers=h).status_code == 201
        assert c.get("/api/v1/models", headers=h).status_code == 200
        gated = [w for w in rt.workers if w.area_table]
        assert sorted(w.area_table for w in gated) == ["ab_tests", "monitors"], gated
        assert [w.in_use() for w in gated] == [False, False]  # empty tables: a pass is one probe
        loaded = sorted(m for m in {_AREAS!r} if m in sys.modules)
        assert not loaded, loaded
        spec = c.get("/api/v1/openapi.json").get_json()
        assert "/api/v1/monitors" in spec["paths"] and "/api/v1/ab-tests" in spec["paths"]
        assert not sorted(m for m in {_AREAS!r} if m in sys.modules)  # documenting loads nothing
        r = c.get("/api/v1/monitors", headers=h)
        assert r.status_code == 200 and r.get_json()["items"] == [], r.get_json()
        r = c.get("/api/v1/ab-tests", headers=h)
        assert r.status_code == 200, r.get_json()
        for part in ("card", "explanation"):
            r = c.get("/api/v1/models/none/versions/1/" + part, headers=h)
            assert r.status_code == 404, r.get_json()
        r = c.get("/api/2.0/mlflow/experiments/get-by-name?experiment_name=e", headers=h)
        assert r.status_code == 200 and r.get_json()["experiment"]["name"] == "e", r.get_json()
        assert c.get("/", headers=h).status_code in (200, 302)  # a UI page
        missing = [m for m in {_AREAS!r} if m not in sys.modules]
        assert not missing, missing
        rt.close()
        print("ok")
        """
    )
    migrate = (
        "from tether_server.cli import main; main(['db', 'upgrade'], standalone_mode=False); print('ok')"
    )
    _runs_ok_in_a_fresh_interpreter(migrate, tmp_path)
    _runs_ok_in_a_fresh_interpreter(code, tmp_path)


def test_a_gated_worker_runs_its_passes_from_its_areas_first_row_on(app, client, admin_token):
    """``area_table``: while the table is empty a pass is only the probe (``run_once`` is not called);
    from its first row on every pass runs, and the answer is kept (no probe any more)."""
    import time

    from tether_server.runtime import Runtime
    from tether_server.workers.base import PollingWorker

    passes: list[float] = []

    class Gated(PollingWorker):
        name = "gated"
        area_table = "runs"

        @property
        def poll_seconds(self) -> float:
            return 0.01

        def run_once(self) -> int:
            passes.append(time.monotonic())
            return 0

    worker = Gated(Runtime.of(app))
    assert worker.in_use() is False
    worker.start()
    try:
        time.sleep(0.3)
        assert passes == []  # several probes, no pass
        h = {"Authorization": f"Bearer {admin_token}"}
        exp = client.post("/api/v1/experiments", json={"name": "gated"}, headers=h).get_json()["id"]
        assert client.post("/api/v1/runs", json={"experiment_id": exp}, headers=h).status_code == 201
        deadline = time.monotonic() + 10
        while len(passes) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(passes) >= 3
    finally:
        worker.stop()
    assert worker.in_use() is True


def test_the_gated_workers_probe_their_areas_own_tables():
    from tether_server.models.abtests import ABTest
    from tether_server.models.monitoring import Monitor
    from tether_server.workers import ABTestEvaluator, MonitorEvaluatorWorker

    assert MonitorEvaluatorWorker.area_table == Monitor.__tablename__
    assert ABTestEvaluator.area_table == ABTest.__tablename__


def test_response_schema_classes_resolve_to_one_shared_instance(monkeypatch):
    """``api.shared_schema``: every ``response``/``alt_response`` naming a schema class gets the one
    instance of that class (flask-smorest would build one per decorator)."""
    import flask_smorest

    from tether_server.api import Blueprint, shared_schema
    from tether_server.schemas.runs import RunSchema

    seen: list[object] = []
    response, alt = flask_smorest.Blueprint.response, flask_smorest.Blueprint.alt_response

    def record(self, code, schema=None, *a, **k):
        seen.append(schema)
        return response(self, code, schema, *a, **k)

    def record_alt(self, code, resp=None, *a, **k):
        seen.append(k.get("schema"))
        return alt(self, code, resp, *a, **k)

    monkeypatch.setattr(flask_smorest.Blueprint, "response", record)
    monkeypatch.setattr(flask_smorest.Blueprint, "alt_response", record_alt)
    bp = Blueprint("shared_schema_check", __name__)
    bp.response(200, RunSchema)
    bp.response(201, RunSchema)
    bp.alt_response(202, schema=RunSchema)
    mine = RunSchema(many=True)
    bp.response(200, mine)  # an instance is used as given
    assert isinstance(seen[0], RunSchema) and seen[0] is seen[1] is seen[2] is shared_schema(RunSchema)
    assert seen[3] is mine


def test_the_wsgi_entry_point_freezes_what_start_up_built(tmp_path):
    """gunicorn's workers load ``tether_server.wsgi``: everything built at start-up is moved out of
    the cyclic collector's reach, so a full collection during a request no longer scans the app."""
    code = textwrap.dedent(
        """
        import gc
        assert gc.get_freeze_count() == 0
        import tether_server.wsgi
        assert gc.get_freeze_count() > 50_000, gc.get_freeze_count()
        tether_server.wsgi.app.extensions["tether"].close()
        print("ok")
        """
    )
    _runs_ok_in_a_fresh_interpreter(code, tmp_path)
