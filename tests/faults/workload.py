"""A steady write load for the fault tests: metric batches with Idempotency-Keys, SDK buffered loggers,
artifact uploads and registry approvals, each recording what the server acknowledged."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

from .live import Api

BATCH = 200


def blob(seed: str, n: int = 20_000) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(n)


@dataclass
class Acks:
    batches: dict[str, list[int]] = field(default_factory=dict)  # run id -> acknowledged first steps
    artifacts: dict[tuple[str, str], str] = field(default_factory=dict)  # (run, path) -> sha256
    approvals: list[int] = field(default_factory=list)  # approved transition request ids
    sdk_points: dict[str, int] = field(default_factory=dict)  # run id -> points logged
    upload_statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def retry_call(api: Api, stop_at: float, method: str, path: str, **kw: Any) -> requests.Response | None:
    """One logical write, repeated with the same body and headers on 503 or no answer (the Idempotency-Key
    makes that safe for batches); None when the deadline passed."""
    while time.monotonic() < stop_at:
        try:
            r = api.call(method, path, **kw)
        except requests.ConnectionError:
            with api.lock:
                api.no_answer += 1
            time.sleep(0.3)
            continue
        if r.status_code != 503:
            return r
        time.sleep(min(float(r.headers.get("Retry-After", "1")), 1.0))
    return None


class Load:
    def __init__(self, apis: list[Api], experiment_id: int, acks: Acks) -> None:
        self.apis = apis
        self.exp = experiment_id
        self.acks = acks
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.failures: list[str] = []

    def api(self, i: int) -> Api:
        return self.apis[i % len(self.apis)]

    def start(self, fn: Any, *args: Any) -> None:
        def wrapped() -> None:
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - reported by join()
                self.failures.append(f"{fn.__name__}: {exc!r}")

        t = threading.Thread(target=wrapped, daemon=True)
        t.start()
        self.threads.append(t)

    def join(self, timeout: float = 180) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
        assert not any(t.is_alive() for t in self.threads), "load threads hung"
        assert not self.failures, self.failures

    def new_run(self, i: int) -> str:
        r = retry_call(self.api(i), time.monotonic() + 120, "POST", "/runs", json={"experiment_id": self.exp})
        assert r is not None and r.status_code == 201, r and r.text
        return str(r.json()["id"])

    # ---------------------------------------------------------------- writers

    def batch_writer(self, i: int, max_batches: int = 10_000, pause: float = 0.05) -> None:
        run_id = self.new_run(i)
        with self.acks.lock:
            self.acks.batches[run_id] = []
        for b in range(max_batches):
            if self.stop.is_set():
                return
            step0 = b * BATCH
            metrics = [
                {"key": "loss", "value": 1.0 / (s + 1), "step": s, "timestamp": s}
                for s in range(step0, step0 + BATCH)
            ]
            key = uuid.uuid4().hex
            r = retry_call(
                self.api(i + b),
                time.monotonic() + 120,
                "POST",
                f"/runs/{run_id}/batch",
                json={"metrics": metrics},
                headers={"Idempotency-Key": key},
            )
            assert r is not None, "a batch was never acknowledged"
            assert r.status_code == 200, r.text
            with self.acks.lock:
                self.acks.batches[run_id].append(step0)
            time.sleep(pause)

    def artifact_writer(self, i: int, run_id: str, max_files: int = 10_000, pause: float = 0.1) -> None:
        for n in range(max_files):
            if self.stop.is_set():
                return
            path = f"files/w{i}/f{n}.bin"
            data = blob(f"{run_id}/{path}")
            r = retry_call(
                self.api(i + n), time.monotonic() + 120, "PUT", f"/runs/{run_id}/artifacts/{path}", data=data
            )
            assert r is not None
            with self.acks.lock:
                self.acks.upload_statuses[r.status_code] = self.acks.upload_statuses.get(r.status_code, 0) + 1
            # 409: an earlier attempt of this same upload was stored but its answer was lost
            assert r.status_code in (201, 409), r.text
            with self.acks.lock:
                self.acks.artifacts[(run_id, path)] = hashlib.sha256(data).hexdigest()
            time.sleep(pause)

    def approver(self, i: int, model: str, run_id: str, reviewer: Api, max_rounds: int = 1000) -> None:
        """Register a version, request Staging, approve it as the reviewer: a registry write per step."""
        deadline = lambda: time.monotonic() + 120  # noqa: E731
        for _ in range(max_rounds):
            if self.stop.is_set():
                return
            api = self.api(i)
            r = retry_call(
                api,
                deadline(),
                "POST",
                f"/models/{model}/versions",
                json={"run_id": run_id, "artifact_path": "model"},
            )
            assert r is not None and r.status_code == 201, r and r.text
            version = r.json()["version"]
            r = retry_call(
                api,
                deadline(),
                "POST",
                f"/models/{model}/versions/{version}/transition-requests",
                json={"to_stage": "Staging", "comment": "fault test"},
            )
            assert r is not None and r.status_code == 201, r and r.text
            req_id = r.json()["id"]
            r = retry_call(
                reviewer, deadline(), "POST", f"/transition-requests/{req_id}/approve", json={"comment": "ok"}
            )
            assert r is not None and r.status_code in (200, 409), r and r.text
            if r.status_code == 409:  # an earlier attempt landed: the request must show it approved
                got = retry_call(reviewer, deadline(), "GET", f"/transition-requests/{req_id}")
                assert got is not None and got.json()["status"] == "approved", got and got.text
            with self.acks.lock:
                self.acks.approvals.append(req_id)
            time.sleep(0.2)


def sdk_logger(url: str, token: str, experiment: str, points: int, pause: float, acks: Acks) -> None:
    """A training loop: buffered ``log_metric`` calls while the test breaks things; the run must end
    FINISHED with every point stored once."""
    import tether

    client = tether.Client(url, token=token, max_retries=8, backoff_max=2.0)
    with tether.start_run(experiment=experiment, client=client, flush_interval=0.3, retry_window=120) as run:
        for step in range(points):
            run.log_metric("sdk/loss", 1.0 / (step + 1), step=step)
            time.sleep(pause)
    with acks.lock:
        acks.sdk_points[run.id] = points
    client.close()


def setup_registry(api: Api, reviewer_name: str, model: str) -> tuple[str, Api, int]:
    """A training run with model files, a model, and a reviewer with READ on it; returns its Api."""
    exp = api.ok("POST", "/experiments", 201, json={"name": f"reg-{model}"})["id"]
    run_id = api.ok("POST", "/runs", 201, json={"experiment_id": exp})["id"]
    for path, data in (("model/weights.bin", blob("w", 5000)), ("model/config.json", b'{"a": 1}')):
        api.ok("PUT", f"/runs/{run_id}/artifacts/{path}", 201, data=data)
    model_id = api.ok("POST", "/models", 201, json={"name": model})["id"]
    user = api.ok("POST", "/users", 201, json={"name": reviewer_name, "role": "reviewer", "token_name": "t"})
    _grant(api, user["id"], model_id)
    return run_id, Api(api.url.removesuffix("/api/v1"), user["token"]), model_id


def _grant(api: Api, user_id: int, model_id: int) -> None:
    r = api.call(
        "PUT",
        "/permissions",
        json={"user_id": user_id, "resource_type": "model", "resource_id": str(model_id), "level": "READ"},
    )
    assert r.status_code in (200, 201), r.text
