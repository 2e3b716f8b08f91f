from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLIENT_DIR = Path(__file__).resolve().parents[2] / "client"

CHECK = """
import sys, time
t = time.perf_counter()
import tether
elapsed = time.perf_counter() - t
assert tether.__file__, "tether resolved to a namespace package"
bad = [m for m in ("flask", "sqlalchemy", "tether_server", "requests", "urllib3", "tqdm", "marshmallow")
       if m in sys.modules or any(k.startswith(m + ".") for k in sys.modules)]
assert not bad, bad
print(elapsed)
"""


def test_import_is_light_and_server_free() -> None:
    env = {**os.environ, "PYTHONPATH": str(CLIENT_DIR)}
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 1.0  # generous: a smoke check, not a benchmark


def test_py_typed_and_all() -> None:
    import tether

    assert (CLIENT_DIR / "tether" / "py.typed").exists()
    assert all(hasattr(tether, n) for n in tether.__all__)
    assert not any(p.name.startswith("tether_server") for p in (CLIENT_DIR / "tether").rglob("*"))
