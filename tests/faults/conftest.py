"""Fault tests: a PostgreSQL cluster and a Ceph RGW of their own (the shared ones are never broken).

``services`` starts both once per session with the project's scripts (scripts/start_postgres.sh and
scripts/start_rgw.sh into a state dir of its own, in parallel) and stops them with
scripts/stop_services.sh. ``Services.stop_pg``/``start_pg`` restart the cluster on its data dir (the
data survives); ``stop_rgw``/``start_rgw`` stop only the gateway (the OSD keeps the objects).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
S3_ACCESS_KEY, S3_SECRET_KEY = "tetherak", "tethersecret"


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.getuid() == 0 else args


@dataclass
class Services:
    state: Path
    pg_url: str
    s3_endpoint: str

    # ------------------------------------------------------------ PostgreSQL

    @property
    def _pg(self) -> tuple[str, str, str]:
        bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
        data = (self.state / "pg" / "datadir").read_text().strip()
        port = (self.state / "pg" / "port").read_text().strip()
        return str(bindir), data, port

    def stop_pg(self) -> None:
        """Fast shutdown: sessions are terminated, clients see their connections drop."""
        bindir, data, _ = self._pg
        subprocess.run(
            _as_postgres([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-t", "60", "stop"]),
            check=True,
            capture_output=True,
        )

    def start_pg(self) -> None:
        bindir, data, port = self._pg
        opts = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        log = str(Path(data).parent / "postgres.log")
        subprocess.run(
            _as_postgres([f"{bindir}/pg_ctl", "-D", data, "-l", log, "-w", "-t", "120", "-o", opts, "start"]),
            check=True,
            capture_output=True,
        )
        (self.state / "pg" / "pid").write_text((Path(data) / "postmaster.pid").read_text().split()[0])

    def new_database(self) -> str:
        admin = create_engine(self.pg_url, isolation_level="AUTOCOMMIT")
        name = f"faults_{uuid.uuid4().hex[:10]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return make_url(self.pg_url).set(database=name).render_as_string(hide_password=False)

    # ------------------------------------------------------------ RGW

    @property
    def _rgw_pidfile(self) -> Path:
        return self.state / "ceph" / "run" / "client.rgw.a.pid"

    def stop_rgw(self) -> None:
        pid = int(self._rgw_pidfile.read_text())
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "radosgw"
        os.kill(pid, 15)
        for _ in range(200):
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.1)
        os.kill(pid, 9)

    def start_rgw(self) -> None:
        env = {**os.environ, "CEPH_CONF": str(self.state / "ceph" / "ceph.conf")}
        subprocess.run(["radosgw", "-n", "client.rgw.a"], env=env, check=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                requests.get(self.s3_endpoint, timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.5)
        raise RuntimeError("radosgw did not come back")

    def s3_env(self, bucket: str) -> dict[str, str]:
        return {
            "TETHER_ARTIFACT_URI": f"s3://{bucket}/art",
            "TETHER_S3_ENDPOINT": self.s3_endpoint,
            "TETHER_S3_ACCESS_KEY": S3_ACCESS_KEY,
            "TETHER_S3_SECRET_KEY": S3_SECRET_KEY,
            "TETHER_S3_SECURE": "false",
        }


def _last_line(proc: subprocess.Popen[str], what: str) -> str:
    out, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed to start:\n{err[-3000:]}")
    return out.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    if not shutil.which("pg_ctlcluster") and not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("PostgreSQL is not installed (scripts/test installs it)")
    if not shutil.which("radosgw"):
        pytest.skip("Ceph radosgw is not installed (scripts/test installs it)")
    state = tmp_path_factory.mktemp("fault-services")
    procs = {
        name: subprocess.Popen(
            [str(SCRIPTS / script), str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, script in (("pg", "start_postgres.sh"), ("rgw", "start_rgw.sh"))
    }
    try:
        pg_url = _last_line(procs["pg"], "PostgreSQL")
        endpoint = _last_line(procs["rgw"], "radosgw")
        yield Services(state, pg_url, endpoint)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        subprocess.run([str(SCRIPTS / "stop_services.sh"), str(state)], capture_output=True, timeout=120)
