"""The harness calibration's server: a bare Flask app that parses a JSON body with orjson and answers
a small JSON object. ``bench._server.echo_server`` runs it under the same gunicorn options as
``tether server``; the bench sends it the same requests with the same client code as a target row,
so the table shows what the client harness and the HTTP stack alone can carry on this host.

- ``POST /echo`` (the window posts' wrk script);
- ``POST /api/v1/runs`` answers 201 with a run id, ``POST /api/v1/runs/<id>/batch`` and
  ``.../metrics`` answer 200 (the hot paths' create-run and single ``log_metric`` clients)."""

from __future__ import annotations

import orjson
from flask import Flask, Response, request

app = Flask(__name__)
RUN_ID = "0" * 32


@app.post("/echo")
def echo() -> Response:
    body = orjson.loads(request.get_data())
    return Response(orjson.dumps({"keys": len(body)}), mimetype="application/json")


@app.post("/api/v1/runs")
def create_run() -> Response:
    body = orjson.loads(request.get_data())
    return Response(orjson.dumps({"id": RUN_ID, "keys": len(body)}), 201, mimetype="application/json")


@app.post("/api/v1/runs/<run_id>/<any(batch, metrics):what>")
def run_write(run_id: str, what: str) -> Response:
    body = orjson.loads(request.get_data())
    return Response(orjson.dumps({"keys": len(body)}), mimetype="application/json")


@app.get("/api/v1/health")
def health() -> Response:
    return Response(b'{"status":"ok"}', mimetype="application/json")
