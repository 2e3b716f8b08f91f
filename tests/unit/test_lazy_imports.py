"""numpy and scipy load on first use: an idle server (and every gunicorn worker that only serves
tracking and registry calls) never carries them, and the statistics still work once asked for."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from tether_server._lazy import LazyModule


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
    env = {"TETHER_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "TETHER_WEBHOOK_WORKER": "false"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_lazy_module_loads_once_and_caches_attributes_under_concurrent_first_use():
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
    assert lazy.__dict__["dumps"] is json.dumps  # later reads are plain attribute lookups
    assert "loaded" in repr(lazy) and "not" not in repr(lazy)
    assert lazy.loads('{"a": 1}') == {"a": 1}
