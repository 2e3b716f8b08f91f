"""Packaging: the wheel carries migrations/ and web/; the client installs and imports alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = r"""
import sys, tempfile
from pathlib import Path
import tether_server, tether_server.migrate as m
from tether_server.ui import web_root
target = Path(sys.argv[1])
assert Path(tether_server.__file__).is_relative_to(target), tether_server.__file__
assert m.migrations_dir().is_relative_to(target), m.migrations_dir()
assert web_root().is_relative_to(target), web_root()
from tether_server.config import Settings
from tether_server.db import Database
from tether_server import create_app
d = tempfile.mkdtemp()
s = Settings(data_dir=d, secret_key="k").validated()
db = Database(s.resolved_database_url); m.upgrade(db.engine); assert m.is_up_to_date(db.engine)
c = create_app(s).test_client()
assert c.get("/login").status_code == 200
assert c.get("/static/app.css").status_code == 200
print("wheel-ok")
"""


@pytest.mark.slow
def test_wheel_install_serves_migrations_and_web(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    target = tmp_path / "site"
    wheel = next(wheels.glob("tether_server-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", CHECK, str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "wheel-ok" in out.stdout


@pytest.mark.slow
def test_client_installs_alone_without_server_dependencies(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT / "client")],
        check=True,
        timeout=600,
        capture_output=True,
    )
    wheel = next(wheels.glob("tether-*.whl"))
    meta = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import zipfile; z = zipfile.ZipFile({str(wheel)!r}); "
            "print(z.read([n for n in z.namelist() if n.endswith('METADATA')][0]).decode())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requires = [
        ln.split(":", 1)[1].strip().lower() for ln in meta.splitlines() if ln.startswith("Requires-Dist:")
    ]
    assert not any(
        r.startswith(("flask", "sqlalchemy", "alembic", "marshmallow", "gunicorn")) for r in requires
    )
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    code = (
        "import sys, time; t = time.perf_counter(); import tether; dt = time.perf_counter() - t; "
        "assert tether.__file__.startswith(sys.argv[1]), tether.__file__; "
        "bad = [m for m in ('flask', 'sqlalchemy', 'tether_server') if m in sys.modules]; "
        "assert not bad, bad; print(dt)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
