"""Start and stop a real ``tether server`` (gunicorn) for the benchmarks; PostgreSQL helpers."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
TETHER = Path(sys.executable).parent / "tether"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_admin_token() -> str:
    alphabet = string.ascii_letters + string.digits
    return "tth_" + "".join(secrets.choice(alphabet) for _ in range(40))


@dataclass
class Server:
    """One ``tether server --workers 2 --threads 4 --migrate`` subprocess on 127.0.0.1."""

    data_dir: str
    admin_token: str
    database_url: str = ""  # empty: the embedded SQLite file in data_dir
    workers: int = 2
    threads: int = 4
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    start_seconds: float = 0.0
    log_path: str = ""
    history: list[float] = field(default_factory=list)  # start→healthy seconds of each start
    idle_memory: tuple[int, int, int] = (0, 0, 0)  # (RSS, PSS, processes) after measure_idle()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def env(self) -> dict[str, str]:
        # the caller's TETHER_* settings stay out (the bench sets its own), except the worker pinning
        # (TETHER_CPU_AFFINITY), so a run can compare `off` with the default
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("TETHER_") or k == "TETHER_CPU_AFFINITY"
        }
        env.update(
            TETHER_DATA_DIR=self.data_dir,
            TETHER_ADMIN_TOKEN=self.admin_token,
            TETHER_CREDENTIALS_FILE=str(Path(self.data_dir) / "credentials.json"),
        )
        if self.database_url:
            env["TETHER_DATABASE_URL"] = self.database_url
        return env

    def start(self, timeout: float = 180.0) -> float:  # a loaded 2-core host needs > 60 s
        """Start and wait for /api/v1/health; returns (and records) the start→healthy seconds."""
        self.port = free_port()
        self.log_path = str(Path(self.data_dir) / f"server-{self.port}.log")
        cmd = [
            str(TETHER),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--migrate",
        ]
        with open(self.log_path, "ab") as log:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(
                cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir
            )
        self._wait_healthy(t0, timeout)
        self.start_seconds = time.perf_counter() - t0
        self.history.append(self.start_seconds)
        return self.start_seconds

    def _wait_healthy(self, t0: float, timeout: float) -> None:
        url = self.base_url + "/api/v1/health"
        while time.perf_counter() - t0 < timeout:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}; see {self.log_path}:\n"
                    + Path(self.log_path).read_text()[-2000:]
                )
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"server not healthy after {timeout} s; see {self.log_path}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the gunicorn master (our child's PID) and wait; SIGKILL only if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> float:
        self.stop()
        return self.start()

    def measure_idle(self, settle: float = 1.0) -> tuple[int, int, int]:
        """Warm every worker with a few requests, let it settle, then read the tree's memory."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        for _ in range(4 * self.workers):  # new connections, so every worker gets some
            requests.get(
                self.base_url + "/api/v1/experiments", headers=headers, timeout=10
            ).raise_for_status()
        time.sleep(settle)
        self.idle_memory = self.tree_memory()
        return self.idle_memory

    def worker_pids(self) -> list[int]:
        return children_of(self.pid)

    def worker_cpus(self) -> str:
        """The workers' allowed CPUs as the kernel lists them, e.g. ``0 | 1`` when pinned one per CPU."""
        return " | ".join(sorted(_status_field(p, "Cpus_allowed_list") for p in self.worker_pids()))

    def cpu(self) -> float:
        """CPU seconds used by the whole tree so far (compare two readings)."""
        return cpu_seconds([self.pid, *self.worker_pids()])

    def tree_memory(self) -> tuple[int, int, int]:
        """(sum RSS bytes, sum PSS bytes, process count) over the master and its workers."""
        pids = [self.pid, *self.worker_pids()]
        return (
            sum(_status_kb(p, "VmRSS") for p in pids) * 1024,
            sum(_pss_kb(p) for p in pids) * 1024,
            len(pids),
        )


@contextmanager
def echo_server() -> Iterator[tuple[str, Callable[[], float]]]:
    """``bench._echo_app`` under ``tether server``'s gunicorn options (2 workers x 4 threads, gthread,
    the same worker pinning): yields its base URL and a reader of its tree's CPU seconds."""
    from tether_server import affinity

    port = free_port()
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "--config", "python:tether_server.gunicorn_conf",
           "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--worker-class", "gthread",
           "--no-control-socket", "--keep-alive", "30", "bench._echo_app:app"]  # fmt: skip
    cpus = affinity.plan(os.environ.get("TETHER_CPU_AFFINITY", "auto").lower(), 2).cpus
    env = {**os.environ, affinity.WORKER_CPUS_ENV: affinity.format_cpus(cpus)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.perf_counter() + 60
        while True:
            try:
                if requests.post(base + "/echo", data=b"{}", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError("the echo app did not start")
            time.sleep(0.05)
        yield base, lambda: cpu_seconds([proc.pid, *children_of(proc.pid)])
    finally:
        proc.terminate()
        proc.wait(30)


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU seconds used so far by ``pids`` (from /proc/<pid>/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / tick


def children_of(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(set(out))


def _status_field(pid: int, field_name: str) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _status_kb(pid: int, field_name: str) -> int:
    value = _status_field(pid, field_name).split()
    return int(value[0]) if value else 0


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# ---------------------------------------------------------------- PostgreSQL


def start_local_postgres() -> str:
    """Run the project's (or the shared recipe's) start script; returns the URL it prints."""
    script = ROOT / "scripts" / "start_postgres.sh"
    env = dict(os.environ)
    if not script.is_file():
        script = Path("/work/shared/recipes/start_postgres.sh")
        env.update(PGPORT=env.get("PGPORT", "55499"), PGDATA=env.get("PGDATA", "/tmp/pg-bench"))
    out = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=600)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("postgresql")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{script} failed: {out.stderr[-1000:]}")
    return lines[-1].strip()


def _sa_url(url: str) -> str:
    return "postgresql+psycopg://" + url[len("postgresql://") :] if url.startswith("postgresql://") else url


def pg_reachable(url: str) -> bool:
    from sqlalchemy import create_engine, text

    engine = create_engine(_sa_url(url))
    try:
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return False
    finally:
        engine.dispose()


def fresh_pg_schema(url: str) -> tuple[str, str]:
    """Create an empty schema for one bench run; returns (URL with search_path set, schema name).

    The database may already hold a Tether install; a private schema keeps the bench from
    touching it and makes the first-admin bootstrap (TETHER_ADMIN_TOKEN) apply.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(_sa_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    u = make_url(_sa_url(url))
    u = u.update_query_dict({"options": f"-csearch_path={schema}"})
    return u.render_as_string(hide_password=False), schema


def drop_pg_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(_sa_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
