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
