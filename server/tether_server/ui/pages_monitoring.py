"""The monitor page (``/monitors/<id>``): drift heatmap, histograms, PSI and performance trends,
version markers and the alert list.

The page script reads the monitoring REST resources (``GET /api/v1/monitors/<id>``, ``/drift``,
``/performance``, ``/windows/<start>/histogram``, ``GET /api/v1/alerts?monitor=``) with the session
cookie, and acknowledges/resolves alerts with ``POST /api/v1/alerts/<id>/acknowledge|resolve``
carrying the page's CSRF token in ``X-CSRF-Token``. The JSON twin (``Accept: application/json``)
names those resources, so what the page shows is exactly what the API answers.
"""

from __future__ import annotations

from typing import Any

from flask import request

from ..access import access
from ..errors import InvalidArgument
from .common import page

DEFAULT_DAYS = 7


def _range_days() -> int:
    raw = request.args.get("days", str(DEFAULT_DAYS))
    try:
        days = int(raw)
    except ValueError:
        raise InvalidArgument("days must be a whole number of days", {"days": raw}) from None
    if not 1 <= days <= 90:
        raise InvalidArgument("days must be between 1 and 90", {"days": days})
    return days


@access("viewer")
def monitor_page(monitor_id: int) -> Any:
    api = f"/api/v1/monitors/{monitor_id}"
    data = {
        "monitor_id": monitor_id,
        "days": _range_days(),
        "resources": {
            "monitor": api,
            "drift": api + "/drift",
            "performance": api + "/performance",
            "histogram": api + "/windows/{window_start}/histogram?column={column}",
            "alerts": f"/api/v1/alerts?monitor={monitor_id}",
        },
    }
    return page("monitor.html", data)
