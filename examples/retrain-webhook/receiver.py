"""Start a CI pipeline when Tether asks for it: a small webhook receiver (standard library only).

It verifies Tether's signature (``X-Tether-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret,
f"{t}.{raw body}")>``, 5-minute replay window), drops duplicate deliveries (``X-Tether-Delivery``),
and for ``retrain.requested`` (production decayed: retrain) and ``transition.approved`` into one of
TRIGGER_STAGES (deploy the approved version) it triggers a pipeline:

* GitLab: ``POST GITLAB_TRIGGER_URL`` with form fields ``token``, ``ref`` and
  ``variables[MODEL_NAME|MODEL_VERSION|TRIGGER_EVENT]`` (the pipeline trigger API).
* Jenkins: ``POST JENKINS_BUILD_URL`` (a ``.../buildWithParameters?...`` URL) with basic auth
  ``JENKINS_USER:JENKINS_API_TOKEN``.

URLs are templates: ``{model}``, ``{version}``, ``{event}``, ``{to_stage}`` are replaced with the
URL-quoted values from the event. Configure it with environment variables:

    TETHER_WEBHOOK_SECRET   the webhook subscription's secret (required)
    GITLAB_TRIGGER_URL      e.g. https://gitlab.example.com/api/v4/projects/42/trigger/pipeline
    GITLAB_TRIGGER_TOKEN    the pipeline trigger token;  GITLAB_REF (default main)
    JENKINS_BUILD_URL       e.g. https://jenkins.example.com/job/retrain/buildWithParameters?MODEL_NAME={model}&TRIGGER_EVENT={event}
    JENKINS_USER, JENKINS_API_TOKEN
    TRIGGER_STAGES          stages whose approval triggers (default Production)
    LISTEN                  host:port (default 127.0.0.1:8085)

Answers 204 quickly after triggering, 401 on a bad signature, 202 for events it ignores, and 502
when a CI system refused (Tether retries the delivery with backoff).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger("retrain-webhook")

TOLERANCE_SECONDS = 300
EVENTS = ("retrain.requested", "transition.approved")


def verify(secret: bytes, header: str, raw_body: bytes, now: float | None = None) -> bool:
    """Tether's documented check: HMAC-SHA256 over ``f"{t}.".encode() + raw_body``, within 5 minutes."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t, sig = int(parts["t"]), parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret, f"{t}.".encode() + raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, sig)


def expand(template: str, values: Mapping[str, Any]) -> str:
    quoted = {k: urllib.parse.quote(str(v if v is not None else ""), safe="") for k, v in values.items()}
    return template.format_map(_Blank(quoted))


class _Blank(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


class Triggers:
    """Which events start which pipelines, read from the environment once."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.secret = env["TETHER_WEBHOOK_SECRET"].encode()
        self.gitlab_url = env.get("GITLAB_TRIGGER_URL", "")
        self.gitlab_token = env.get("GITLAB_TRIGGER_TOKEN", "")
        self.gitlab_ref = env.get("GITLAB_REF", "main")
        self.jenkins_url = env.get("JENKINS_BUILD_URL", "")
        self.jenkins_auth = (env.get("JENKINS_USER", ""), env.get("JENKINS_API_TOKEN", ""))
        self.stages = {
            s.strip().lower() for s in env.get("TRIGGER_STAGES", "Production").split(",") if s.strip()
        }
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.lock = threading.Lock()

    def wanted(self, event: str, data: Mapping[str, Any]) -> bool:
        if event == "retrain.requested":
            return True
        return event == "transition.approved" and str(data.get("to_stage", "")).lower() in self.stages

    def first_time(self, delivery_id: str) -> bool:
        with self.lock:
            if delivery_id in self.seen:
                return False
            self.seen[delivery_id] = None
            while len(self.seen) > 10_000:
                self.seen.popitem(last=False)
            return True

    def forget(self, delivery_id: str) -> None:
        with self.lock:
            self.seen.pop(delivery_id, None)

    def fire(self, event: str, data: Mapping[str, Any]) -> list[str]:
        values = {
            "event": event,
            "model": data.get("model"),
            "version": data.get("version"),
            "to_stage": data.get("to_stage"),
        }
        fired = []
        if self.gitlab_url:
            form = {
                "token": self.gitlab_token,
                "ref": self.gitlab_ref,
                "variables[MODEL_NAME]": str(data.get("model") or ""),
                "variables[MODEL_VERSION]": str(data.get("version") or ""),
                "variables[TRIGGER_EVENT]": event,
            }
            _post(
                expand(self.gitlab_url, values),
                urllib.parse.urlencode(form).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
            fired.append("gitlab")
        if self.jenkins_url:
            user, token = self.jenkins_auth
            headers = (
                {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}
                if user
                else {}
            )
            _post(expand(self.jenkins_url, values), b"", headers)
            fired.append("jenkins")
        return fired


def _post(url: str, body: bytes, headers: Mapping[str, str]) -> None:
    req = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:  # raises HTTPError on 4xx/5xx
        resp.read()


def make_handler(triggers: Triggers) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not verify(triggers.secret, self.headers.get("X-Tether-Signature", ""), raw):
                return self._answer(401, "bad signature")
            delivery = self.headers.get("X-Tether-Delivery", "")
            try:
                payload = json.loads(raw)
                event, data = payload["event"], payload.get("data") or {}
            except (ValueError, KeyError, TypeError):
                return self._answer(400, "not a Tether event")
            if event not in EVENTS or not triggers.wanted(event, data):
                return self._answer(202, f"ignored {event}")
            if delivery and not triggers.first_time(delivery):
                return self._answer(204, "duplicate delivery")
            try:
                fired = triggers.fire(event, data)
            except (urllib.error.URLError, OSError) as exc:
                triggers.forget(delivery)  # let Tether's retry try again
                logger.warning("trigger for %s failed: %s", event, exc)
                return self._answer(502, "CI trigger failed")
            logger.info("%s for %s v%s: triggered %s", event, data.get("model"), data.get("version"), fired)
            return self._answer(204, "")

        def _answer(self, status: int, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def serve(env: Mapping[str, str] | None = None) -> ThreadingHTTPServer:
    env = os.environ if env is None else env
    host, _, port = env.get("LISTEN", "127.0.0.1:8085").rpartition(":")
    return ThreadingHTTPServer((host or "127.0.0.1", int(port)), make_handler(Triggers(env)))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = serve()
    logger.info("listening on %s:%s", *server.server_address[:2])
    server.serve_forever()
