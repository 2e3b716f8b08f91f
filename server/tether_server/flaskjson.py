"""Flask's JSON provider (``app.json``) on orjson, through ``jsonutil.dumps``."""

from __future__ import annotations

from typing import Any, cast

import orjson
from flask import Response
from flask.json.provider import JSONProvider

from .jsonutil import dumps


class OrjsonProvider(JSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        # JSONProvider types its app as the sansio App, whose response_class takes no body; the app this
        # provider is installed on is a Flask app, whose response_class is a flask Response.
        response_class = cast("type[Response]", self._app.response_class)
        return response_class(dumps(obj), mimetype="application/json")
