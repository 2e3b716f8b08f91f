"""LazyBuildRule builds exactly the URLs werkzeug's eager rules build, compiling on first use."""

from __future__ import annotations

import threading

import pytest
from werkzeug.routing import Map, Rule

from tether_server.urlrules import LazyBuildRule

RULES = [
    ("/api/v1/runs/<run_id>", "run"),
    ("/api/v1/runs/<run_id>/metrics/<path:key>", "history"),
    ("/models/<name>/versions/<int:version>", "version"),
    ("/static/<path:filename>", "static"),
    ("/", "index"),
]
VALUES = [
    ("run", {"run_id": "abc"}),
    ("run", {"run_id": "a b/ü", "page_token": "x&y", "n": [1, 2]}),
    ("history", {"run_id": "r1", "key": "train/loss é"}),
    ("version", {"name": "churn", "version": 3}),
    ("static", {"filename": "dist/app.js", "v": "1"}),
    ("index", {"q": "?#"}),
]


def _adapter(rule_class: type[Rule]):
    return Map([rule_class(path, endpoint=ep) for path, ep in RULES]).bind("tether.example", "/")


@pytest.mark.parametrize(("endpoint", "values"), VALUES)
@pytest.mark.parametrize("append_unknown", [True, False])
def test_lazy_rules_build_what_eager_rules_build(endpoint, values, append_unknown):
    eager, lazy = _adapter(Rule), _adapter(LazyBuildRule)
    if not append_unknown and endpoint != "run":
        values = {k: v for k, v in values.items() if k in ("run_id", "key", "name", "version", "filename")}
    want = eager.build(endpoint, values, append_unknown=append_unknown)
    assert lazy.build(endpoint, values, append_unknown=append_unknown) == want
    assert lazy.build(endpoint, values, force_external=True) == eager.build(
        endpoint, values, force_external=True
    )


def test_lazy_rules_match_and_refuse_like_eager_ones():
    eager, lazy = _adapter(Rule), _adapter(LazyBuildRule)
    assert lazy.match("/models/churn/versions/7") == ("version", {"name": "churn", "version": 7})
    for bad in ({"name": "churn"}, {"name": "churn", "version": "seven"}):
        errors = []
        for adapter in (eager, lazy):
            try:
                adapter.build("version", bad)
            except Exception as e:  # noqa: BLE001  (whatever werkzeug raises, both raise the same)
                errors.append((type(e), str(e)))
        assert len(errors) == 2 and errors[0] == errors[1], errors


def test_first_builds_from_many_threads_agree():
    lazy = _adapter(LazyBuildRule)
    got: list[str] = []
    threads = [
        threading.Thread(target=lambda i=i: got.append(lazy.build("run", {"run_id": f"r{i % 2}"})))
        for i in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(["/api/v1/runs/r0"] * 8 + ["/api/v1/runs/r1"] * 8)


def test_the_app_uses_lazy_rules_and_url_for_works(tmp_path, monkeypatch):
    monkeypatch.setenv("TETHER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TETHER_WEBHOOK_WORKER", "false")
    from flask import url_for

    from tether_server import create_app
    from tether_server.config import Settings

    app = create_app(Settings.from_env())
    try:
        assert all(isinstance(r, LazyBuildRule) for r in app.url_map.iter_rules())
        with app.test_request_context():
            urls = {r.endpoint: r for r in app.url_map.iter_rules()}
            assert "/api/v1/health" in {url_for(e) for e, r in urls.items() if not r.arguments}
    finally:
        from tether_server.runtime import Runtime

        Runtime.of(app).close()
