"""The local spool: what a run could not send while the server was away, kept on disk and sent later.

When a send fails with "no answer" or 429/502/503/504 (after the client's own retries), the change goes to
a JSON-lines file of its own (``<spool dir>/<run id>-<pid>-<random>.jsonl``) instead of being retried
inline: metric batches with their Idempotency-Key, params and tags, and the run's final status. While
the spool holds anything, every later change of that run is appended to it too (order is kept), so the
training loop never waits on the network and memory stays bounded (the file grows, not a queue).
A daemon thread retries the oldest entry with backoff; once the server answers it sends the whole file
in order and deletes it. One warning is logged when an outage starts and one line when it ends.

At the end of the run the SDK waits at most ``spool_wait`` seconds (``TETHER_SPOOL_WAIT_SECONDS``,
default 30) for the spool to drain, then prints one line saying what is left and where. ``tether sync
[PATH]`` (``sync()``) sends leftover files later; batches carry their idempotency keys and statuses are
idempotent, so sending a file twice stores it once.

Spool directory: ``Client(spool_dir=...)``, ``TETHER_SPOOL_DIR``, else ``$XDG_CACHE_HOME/tether/spool``
(``~/.cache/tether/spool``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._retry import RetryPolicy

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["Spool", "SyncResult", "default_spool_dir", "resolve_spool_wait", "sync"]

logger = logging.getLogger("tether")

DEFAULT_SPOOL_WAIT = 30.0
Entry = dict[str, Any]


def default_spool_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("TETHER_SPOOL_DIR"):
        return Path(env["TETHER_SPOOL_DIR"]).expanduser()
    cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "tether" / "spool"


def resolve_spool_wait(value: float | None, environ: Mapping[str, str] | None = None) -> float:
    env = os.environ if environ is None else environ
    if value is None:
        raw = env.get("TETHER_SPOOL_WAIT_SECONDS")
        try:
            value = float(raw) if raw is not None else DEFAULT_SPOOL_WAIT
        except ValueError:
            raise ValueError(f"TETHER_SPOOL_WAIT_SECONDS: expected a number, got {raw!r}") from None
    if value < 0:
        raise ValueError("the spool wait must be >= 0 seconds")
    return float(value)


def batch_entry(url: str, run_id: str, body: Mapping[str, Any], key: str) -> Entry:
    n = len(body.get("metrics") or ())
    return {"op": "batch", "url": url, "run_id": run_id, "key": key, "points": n, "body": dict(body)}


def status_entry(url: str, run_id: str, status: str, end_time: int) -> Entry:
    # Setting the same terminal status and end time again changes nothing, so the PATCH is safe to
    # repeat: the key lets the client's RetryPolicy retry it after a dropped connection.
    body = {"status": status, "end_time": end_time}
    return {"op": "status", "url": url, "run_id": run_id, "key": f"status-{uuid.uuid4()}", "body": body}


def send_entry(client: Client, entry: Entry) -> None:
    """Send one spooled change (both the background drain and ``tether sync`` use this)."""
    from .resources.runs import quote_segment

    run = quote_segment(entry["run_id"])
    if entry["op"] == "batch":
        client.request("POST", f"/runs/{run}/batch", json=entry["body"], idempotency_key=entry["key"])
    elif entry["op"] == "status":
        client.request("PATCH", f"/runs/{run}", json=entry["body"], idempotency_key=entry.get("key"))
    else:
        raise ValueError(f"unknown spool entry {entry.get('op')!r}")


class Spool:
    """One run's spool file, with the thread that drains it."""

    def __init__(
        self,
        client: Client,
        run_id: str,
        directory: Path,
        *,
        retry: RetryPolicy | None = None,
        probe_max: float = 30.0,
    ) -> None:
        self.client, self.run_id, self.directory = client, run_id, Path(directory)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in run_id)[:64]
        self.path = self.directory / f"{safe}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._retry = retry or RetryPolicy()
        self._probe_max = probe_max
        self._cond = threading.Condition()
        self._fh: Any = None
        self._offset = 0  # bytes of the file already sent
        self._size = 0
        self._entries = 0  # pending entries and metric points
        self._points = 0
        self._outage = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._sent_in_outage = 0

    # ------------------------------------------------------------------ state

    @property
    def active(self) -> bool:
        """True while the spool holds unsent changes (new changes then go to it, in order)."""
        with self._cond:
            return self._outage

    @property
    def pending(self) -> tuple[int, int]:
        """(entries, metric points) not sent yet."""
        with self._cond:
            return self._entries, self._points

    # ------------------------------------------------------------------ writing

    def submit(self, entry: Entry) -> None:
        """Send now, or spool when the server is away (or the spool already holds earlier changes).
        Errors other than "try again later" are raised to the caller."""
        if not self.active:
            try:
                send_entry(self.client, entry)
                return
            except Exception as exc:
                if not self._retry.retryable_error(exc):
                    raise
                self.append(entry, exc)
                return
        self.append(entry)

    def append(self, entry: Entry, cause: BaseException | None = None) -> None:
        line = (json.dumps(entry, separators=(",", ":"), allow_nan=False) + "\n").encode()
        with self._cond:
            if self._fh is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "ab")  # noqa: SIM115  (kept open for the run)
                os.chmod(self.path, 0o600)
            self._fh.write(line)
            self._fh.flush()
            self._size += len(line)
            self._entries += 1
            self._points += int(entry.get("points", 0))
            if not self._outage:
                self._outage = True
                self._sent_in_outage = 0
                logger.warning(
                    "tether: server %s unreachable (%s); spooling run %s to %s and retrying in the background",
                    self.client.base_url,
                    _reason(cause),
                    self.run_id,
                    self.path,
                )
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._drain_loop, name="tether-spool", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    # ------------------------------------------------------------------ draining

    def _drain_loop(self) -> None:
        try:
            self._drain_until_empty()
        except Exception:  # noqa: BLE001  (the thread must never die loudly; the file keeps the data)
            if not self._closed:
                logger.exception("tether: the spool thread of run %s stopped; use tether sync", self.run_id)

    def _drain_until_empty(self) -> None:
        attempt = 0
        while True:
            with self._cond:
                if self._closed or not self._outage:
                    return
                self._cond.wait(self._delay(attempt))
                if self._closed:
                    return
            if self.drain_once():
                attempt = 0
            else:
                attempt += 1

    def _delay(self, attempt: int) -> float:
        return min(self._probe_max, self._retry.delay(attempt))

    def drain_once(self) -> bool:
        """Send the spooled entries in order; True when the spool is empty afterwards."""
        while True:
            with self._cond:
                if self._closed:
                    return False
                if self._offset >= self._size:
                    self._finish_outage()
                    return True
                start, end = self._offset, self._size
            for raw in _lines(self.path, start, end):
                entry = json.loads(raw)
                try:
                    send_entry(self.client, entry)
                except Exception as exc:
                    if self._retry.retryable_error(exc):
                        return False
                    logger.error("tether: dropped a spooled %s of run %s: %s", entry["op"], self.run_id, exc)
                with self._cond:
                    if self._closed:  # close() kept this entry on disk: a later sync resends it (idempotent)
                        return False
                    self._offset += len(raw)
                    self._entries -= 1
                    self._points -= int(entry.get("points", 0))
                    self._sent_in_outage += 1
                    self._cond.notify_all()

    def _finish_outage(self) -> None:  # holds the lock
        if self._outage:
            logger.warning(
                "tether: server %s reachable again; sent %d spooled changes of run %s",
                self.client.base_url,
                self._sent_in_outage,
                self.run_id,
            )
        self._outage = False
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self.path.unlink(missing_ok=True)
        self._offset = self._size = 0
        self._cond.notify_all()

    def wait_drained(self, timeout: float) -> bool:
        import time

        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()  # probe now rather than after the backoff
            while self._outage:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    def close(self, announce: bool = True) -> str | None:
        """Stop the thread; keep only the unsent entries on disk. Returns (and prints) the one line
        that says what is left, or None when nothing is."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)  # never longer: an entry in flight stays in the file (resending is safe)
        with self._cond:
            if not self._outage:
                return None
            self._compact()
            entries, points = self._entries, self._points
        msg = (
            f"tether: server {self.client.base_url} unreachable; {points} metric points and "
            f"{entries} change(s) of run {self.run_id} are spooled in {self.path} "
            f"(send them with: tether sync {self.directory})"
        )
        if announce:
            print(msg, file=sys.stderr, flush=True)
        return msg

    def _compact(self) -> None:  # holds the lock: rewrite the file without the sent entries
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._offset:
            tmp = self.path.with_suffix(".tmp")
            with open(self.path, "rb") as src, open(tmp, "wb") as dst:
                src.seek(self._offset)
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            os.replace(tmp, self.path)
            self._size -= self._offset
            self._offset = 0


def _lines(path: Path, start: int, end: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        pos = start
        while pos < end:
            raw = fh.readline()
            if not raw.endswith(b"\n"):
                return  # a line still being written
            pos += len(raw)
            yield raw


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "no answer"
    status = getattr(exc, "status", None)
    return f"HTTP {status}" if status else exc.__class__.__name__


# ---------------------------------------------------------------------- tether sync


@dataclass
class SyncResult:
    files: int = 0
    sent: int = 0
    points: int = 0
    failed: int = 0  # entries refused by the server (dropped, logged)
    left: int = 0  # entries not sent because the server is still away (files kept)


def sync(
    path: str | os.PathLike[str] | None = None,
    *,
    client_factory: Callable[[str], Client] | None = None,
    echo: Callable[[str], None] | None = None,
) -> SyncResult:
    """Send spooled files (a file, or every ``*.jsonl`` in a folder; default: the spool folder) in
    order. A fully sent file is deleted; a file whose server is still away is kept as it was."""
    from ._client import Client

    target = Path(path) if path is not None else default_spool_dir()
    files = sorted(target.glob("*.jsonl")) if target.is_dir() else [target]
    make = client_factory or (lambda url: Client(url))
    clients: dict[str, Client] = {}
    result = SyncResult()
    say = echo or (lambda _m: None)
    try:
        for f in files:
            result.files += 1
            _sync_file(f, clients, make, result, say)
    finally:
        for c in clients.values():
            c.close()
    return result


def _sync_file(
    f: Path,
    clients: dict[str, Client],
    make: Callable[[str], Client],
    result: SyncResult,
    say: Callable[[str], None],
) -> None:
    entries = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    for i, entry in enumerate(entries):
        client = clients.get(entry["url"]) or clients.setdefault(entry["url"], make(entry["url"]))
        try:
            send_entry(client, entry)
        except Exception as exc:
            if RetryPolicy.retryable_error(exc):
                result.left += len(entries) - i
                say(
                    f"{f}: server {entry['url']} unreachable ({_reason(exc)}); {len(entries) - i} entries kept"
                )
                _rewrite(f, entries[i:])
                return
            result.failed += 1
            say(f"{f}: the server refused a {entry['op']} of run {entry['run_id']}: {exc}")
            continue
        result.sent += 1
        result.points += int(entry.get("points", 0))
    f.unlink()
    say(f"{f}: sent {len(entries)} entries")


def _rewrite(f: Path, entries: list[Entry]) -> None:
    tmp = f.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries))
    os.replace(tmp, f)
