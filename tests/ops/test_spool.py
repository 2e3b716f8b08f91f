"""Training never loses data because the server is away: a real `tether server` is killed mid-run, the
script finishes (its changes go to the spool), the server comes back on the same database and
`tether sync` sends the spool: every point exactly once, and the run's final status recorded."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import PG_URL, create_pg_database, drop_pg_database

from .server_proc import ServerProcess, free_port, run_cli, server_env

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import tether

    work = Path(sys.argv[1])
    with tether.start_run(experiment="spool", name="outage") as run:
        print(run.id, flush=True)
        run.log_params({"lr": 0.1})
        for step in range(5000):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.flush()
        (work / "half").write_text("1")
        while not (work / "go").exists():  # the test kills the server now
            time.sleep(0.05)
        for step in range(5000, 10000):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.log_params({"late": "yes"})
        run.set_tags({"phase": "after-outage"})
    print("done", flush=True)
    """
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
        return
    if not PG_URL:
        pytest.skip("PostgreSQL not available (set TETHER_TEST_PG_URL)")
    url = create_pg_database()
    yield {"TETHER_DATABASE_URL": url}
    drop_pg_database(url)


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"script stopped early: {proc.communicate()}")
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_server_mid_run_then_sync(tmp_path: Path, db_env: dict[str, str]) -> None:
    port = free_port()
    env = server_env(tmp_path / "data", **db_env)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    created = run_cli(["users", "create", "ml", "--role", "writer"], env)
    token = created.stdout.strip()
    assert token.startswith("tth_"), created.stderr
    spool = tmp_path / "spool"
    script_env = {
        **{k: v for k, v in env.items() if k not in ("TETHER_DATABASE_URL",)},
        "TETHER_URL": f"http://127.0.0.1:{port}",
        "TETHER_TOKEN": token,
        "TETHER_SPOOL_DIR": str(spool),
        "TETHER_SPOOL_WAIT_SECONDS": "2",
    }
    (tmp_path / "train.py").write_text(SCRIPT)
    srv = ServerProcess(env, port=port).start()
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "train.py"), str(tmp_path)],
        env=script_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(tmp_path / "half", proc)
        srv.kill()  # SIGKILL, the whole process group: no graceful anything
        (tmp_path / "go").write_text("1")
        out, err = proc.communicate(timeout=180)
    finally:
        srv.kill()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    run_id, done = out.split()
    assert done == "done"
    # one warning when the outage began and one line at exit, no per-retry noise, no traceback
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert sum("unreachable" in line and "spooling" in line for line in lines) == 1, err
    final = [line for line in lines if "are spooled in" in line]
    assert len(final) == 1 and "5000 metric points" in final[0] and "tether sync" in final[0], err
    assert len(lines) <= 3, err
    files = list(spool.glob("*.jsonl"))
    assert len(files) == 1
    entries = [json.loads(x) for x in files[0].read_text().splitlines()]
    assert entries[-1]["op"] == "status" and entries[-1]["body"]["status"] == "FINISHED"
    backup = tmp_path / "spool-copy.jsonl"
    shutil.copy(files[0], backup)

    with ServerProcess(env, port=port) as srv2:
        synced = run_cli(["sync", str(spool)], {**script_env})
        assert synced.returncode == 0, synced.stderr
        assert "5000 metric points" in synced.stdout and "0 left" in synced.stdout
        assert not list(spool.glob("*.jsonl"))  # a fully sent file is removed
        again = run_cli(["sync", str(backup)], {**script_env})  # sending twice stores once
        assert again.returncode == 0 and "0 refused" in again.stdout, again.stdout + again.stderr

        h = {"Authorization": f"Bearer {token}"}
        run = requests.get(f"{srv2.url}/api/v1/runs/{run_id}", headers=h, timeout=10).json()
        assert run["status"] == "FINISHED" and run["end_time"] is not None
        assert run["params"] == {"lr": "0.1", "late": "yes"}
        assert run["tags"]["phase"] == "after-outage"
        steps: list[int] = []
        token_ = None
        while True:
            page = requests.get(
                f"{srv2.url}/api/v1/runs/{run_id}/metrics/loss",
                params={"max_results": 10000, **({"page_token": token_} if token_ else {})},
                headers=h,
                timeout=30,
            ).json()
            steps += [p["step"] for p in page["items"]]
            token_ = page.get("next_page_token")
            if not token_:
                break
        assert len(steps) == 10_000 and sorted(steps) == list(range(10_000))  # all, exactly once
