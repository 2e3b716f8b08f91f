"""The harness calibration's server: a bare Flask app that parses a JSON body with orjson and answers
a small JSON object. ``bench.monitoring`` runs it under the same gunicorn options as ``tether
server`` and sends it the window posts' bodies with the same client threads, so the table shows
what the client harness and the HTTP stack alone can carry on this host."""

from __future__ import annotations

import orjson
from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/echo")
def echo() -> Response:
    body = orjson.loads(request.get_data())
    return Response(orjson.dumps({"keys": len(body)}), mimetype="application/json")
