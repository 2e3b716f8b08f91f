"""``tether models request|wait``: ask for a reviewed stage transition and wait for its decision.

Both go through the SDK's ``Client.request`` (auth, JSON errors, retries of idempotent calls); the
``models`` group they belong to is in ``models``.
"""

from __future__ import annotations

import time
from typing import Any

import click

from ..errors import AlreadyExistsError, APIConnectionError, APIError
from ._common import (
    EXIT_CANCELLED,
    EXIT_CODES_HELP,
    EXIT_NO,
    EXIT_TIMEOUT,
    Duration,
    Outcome,
    emit,
    fail,
    handle_errors,
    info,
    json_option,
    make_client,
    with_retries,
)
from .models import _q, models


@models.command("request", epilog=EXIT_CODES_HELP)
@click.option("--name", required=True)
@click.option("--version", required=True, type=int)
@click.option("--to", "to_stage", required=True, help="target stage: Staging, Production or Archived")
@click.option("--comment", default="", help="why (shown to reviewers)")
@json_option
@handle_errors
def request_(name: str, version: int, to_stage: str, comment: str, as_json: bool) -> None:
    """Ask for a reviewed stage transition; prints the request id (an identical pending one is reused)."""
    path = f"/models/{_q(name)}/versions/{int(version)}/transition-requests"
    with make_client() as c:
        try:
            req = with_retries(
                lambda: c.request("POST", path, json={"to_stage": to_stage, "comment": comment}),
                idempotent=False,
            )
        except AlreadyExistsError:
            req = _pending(c, name, version, to_stage)
            if req is None:
                raise
            info(f"reusing pending request {req['id']}")
    state = "applied at once (no approval required)" if req["status"] == "approved" else req["status"]
    info(f"request {req['id']}: {name} v{version} -> {req['to_stage']}: {state}")
    emit(as_json, _req_payload(req), str(req["id"]))


def _pending(c: Any, name: str, version: int, to_stage: str) -> dict[str, Any] | None:
    token = None
    while True:
        page = c.request(
            "GET", "/transition-requests", params={"status": "pending", "model": name, "page_token": token}
        )
        for r in page["items"]:
            if r["version"] == version and r["to_stage"].lower() == to_stage.lower():
                return r
        token = page.get("next_page_token")
        if not token:
            return None


def _req_payload(req: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "model",
        "version",
        "from_stage",
        "to_stage",
        "status",
        "required_approvals",
        "requested_by",
        "decided_by",
        "decision_comment",
    )
    return {("request_id" if k == "id" else k): req.get(k) for k in keys}


@models.command("wait", epilog=EXIT_CODES_HELP)
@click.option("--request", "request_id", required=True, type=int, help="transition request id")
@click.option("--timeout", type=Duration(), default="2h", show_default=True, help="e.g. 90s, 15m, 2h")
@click.option("--interval", type=Duration(), default="10s", show_default=True, help="poll interval")
@json_option
@handle_errors
def wait(request_id: int, timeout: float, interval: float, as_json: bool) -> None:
    """Wait for a decision: exit 0 approved, 3 rejected, 4 timeout, 5 cancelled."""
    deadline = time.monotonic() + timeout
    last_error: str | None = None
    with make_client() as c:
        while True:
            try:
                req = c.request("GET", f"/transition-requests/{int(request_id)}")
                last_error = None
            except (APIConnectionError, APIError) as exc:
                transient = isinstance(exc, APIConnectionError) or exc.status in (429, 500, 502, 503, 504)
                if not transient:
                    raise
                req, last_error = None, str(exc)  # keep waiting through outages until the deadline
                info(f"poll failed ({exc}); still waiting")
            if req is not None and req["status"] != "pending":
                break
            left = deadline - time.monotonic()
            if left <= 0:
                payload = {
                    "request_id": request_id,
                    "status": "pending",
                    "timed_out": True,
                    "last_error": last_error,
                }
                emit(as_json, payload, None)
                raise Outcome(EXIT_TIMEOUT, f"request {request_id} is still pending after {timeout:g}s")
            time.sleep(min(interval, left))
    payload = _req_payload(req)
    who = f" by {req.get('decided_by')}" if req.get("decided_by") else ""
    why = f": {req.get('decision_comment')}" if req.get("decision_comment") else ""
    emit(as_json, payload, None)
    if req["status"] == "approved":
        info(f"request {request_id} approved{who}{why}")
        return
    if req["status"] == "rejected":
        raise Outcome(EXIT_NO, f"request {request_id} rejected{who}{why}")
    if req["status"] == "cancelled":
        raise Outcome(EXIT_CANCELLED, f"request {request_id} cancelled{who}{why}")
    fail(f"request {request_id} has an unknown status {req['status']!r}")
