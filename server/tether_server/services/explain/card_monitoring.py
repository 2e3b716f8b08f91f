"""The model card's "production monitoring" section, from the real monitors and alerts.

For the version the card describes: which of the model's monitors watch it right now (their stage
or alias resolves to this version), each monitor's latest closed window (dataset drift verdict,
importance-weighted share, metric against its baseline), and the model's unresolved alerts (monitor
and A/B), each marked with the version it was raised on. ``status`` sums it up in one word:

* ``alert`` / ``warn``: an unresolved alert of that severity on a monitor watching this version
* ``ok``: watched, nothing unresolved
* ``not_monitored``: the version is live (Production) but no monitor watches it
* ``not_live``: no monitor watches it and it is not in Production (nothing to monitor)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..._lazy import lazy_module
from ...access import Principal
from ...models.registry import ModelVersion, RegisteredModel

if TYPE_CHECKING:  # the monitoring area loads on first use (tether_server._lazy): a card loads it
    from ...models import monitoring as mm
    from ..monitoring import alerts as alert_service
    from ..monitoring import monitors as monitor_service
    from ..monitoring import references
else:
    mm = lazy_module("tether_server.models.monitoring")
    alert_service = lazy_module("tether_server.services.monitoring.alerts")
    monitor_service = lazy_module("tether_server.services.monitoring.monitors")
    references = lazy_module("tether_server.services.monitoring.references")

SUMMARY = {
    "alert": "Monitoring raised alerts on this version; see below.",
    "warn": "Monitoring raised warnings on this version; see below.",
    "ok": "Monitored; no unresolved alert on this version.",
    "not_monitored": "This version is in Production but no monitor watches it.",
    "not_live": "This version is not live; no monitor watches it.",
}


def _latest_window(session: Session, monitor_id: int) -> dict[str, Any] | None:
    r = session.scalar(
        select(mm.MonitorWindowResult)
        .where(mm.MonitorWindowResult.monitor_id == monitor_id, mm.MonitorWindowResult.closed.is_(True))
        .order_by(mm.MonitorWindowResult.window_start.desc())
        .limit(1)
    )
    if r is None:
        return None
    ds = (r.drift or {}).get("dataset") or {}
    m = r.metric or {}
    return {
        "window_start": r.window_start,
        "model_version": r.model_version,
        "n": r.n,
        "status": r.status,
        "dataset_drift": ds.get("status"),
        "drifted_columns": ds.get("drifted_columns", []),
        "drifted_share": ds.get("drifted_share"),
        "weighted_share": ds.get("weighted_share"),
        "metric": {k: m.get(k) for k in ("value", "bound", "baseline", "status", "n")} if m else None,
    }


def _alert(a: mm.Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "monitor_id": a.monitor_id,
        "ab_test_id": a.ab_test_id,
        "rule": a.rule,
        "column": a.column,
        "severity": a.severity,
        "status": a.status,
        "message": a.message,
        "model_version": (a.details or {}).get("model_version"),
        "opened_at": a.opened_at,
    }


def monitoring_status(
    session: Session, actor: Principal, model: RegisteredModel, mv: ModelVersion
) -> dict[str, Any]:
    mons, _ = monitor_service.list_monitors(session, actor, model=model.name, max_results=1000)
    monitors, watching = [], set()
    for mon in mons:
        live = references.live_version(session, mon)
        if live is not None and live.id == mv.id:
            watching.add(mon.id)
        monitors.append(
            {
                "id": mon.id,
                "name": mon.name,
                "follows": f"stage {mon.stage}" if mon.stage else f"alias {mon.alias}",
                "live_version": live.version if live is not None else None,
                "watches_this_version": mon.id in watching,
                "latest_window": _latest_window(session, mon.id),
            }
        )
    alerts = []
    for status in ("open", "acknowledged"):
        rows, _ = alert_service.list_alerts(session, actor, status=status, model=model.name, max_results=1000)
        alerts += [_alert(a) for a in rows]
    alerts.sort(key=lambda a: -a["id"])
    mine = [a for a in alerts if a["monitor_id"] in watching or a["model_version"] == mv.version]
    severities = {a["severity"] for a in mine}
    if "alert" in severities:
        status_word = "alert"
    elif "warn" in severities:
        status_word = "warn"
    elif watching:
        status_word = "ok"
    else:
        status_word = "not_monitored" if mv.stage == "Production" else "not_live"
    return {
        "status": status_word,
        "summary": SUMMARY[status_word],
        "version_in_production": mv.stage == "Production",
        "monitors": monitors,
        "open_alerts": alerts,
    }
