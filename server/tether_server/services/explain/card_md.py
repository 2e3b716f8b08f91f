"""The model card (``card.build_card``) as Markdown, for a compliance file or a pull request.

User-written text is kept as paragraphs; every value that goes into a table cell has ``|``, HTML
angle brackets and line breaks escaped, so a feature or dataset name cannot break the layout.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )


def _when(ms: int | None) -> str:
    if not ms:
        return "–"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out + [""]


def _text(value: str) -> str:
    return value.strip() or "_Not written yet._"


def to_markdown(card: dict[str, Any]) -> str:
    v, m = card["version"], card["model"]
    lines = [
        f"# Model card: {_cell(m['name'])} version {v['version']}",
        "",
        f"- **Stage:** {_cell(v['stage'])}"
        + (f" (aliases: {_cell(', '.join(v['aliases']))})" if v["aliases"] else ""),
        f"- **Registered:** {_when(v['registered_at'])} by {_cell(v['registered_by'])}",
        f"- **Source run:** {_cell(v['run_id'])} ({_cell(v['run_name'])})",
        f"- **Framework:** {_cell(v['framework'])}",
        "",
    ]
    if m["description"] or v["description"]:
        lines += ["## Description", "", _text(v["description"] or m["description"]), ""]
    lines += ["## Intended use", "", _text(card["intended_use"]), ""]
    lines += ["## Limitations", "", _text(card["limitations"]), ""]
    lines += ["## Training data", ""]
    if card["training_data"]:
        lines += _table(
            ["Dataset", "Context", "Content hash (sha256)", "Files", "Rows", "Columns"],
            [
                [
                    d["name"],
                    d["context"],
                    d["hash"],
                    d["file_count"],
                    (d["profile"] or {}).get("rows"),
                    (d["profile"] or {}).get("columns"),
                ]
                for d in card["training_data"]
            ],
        )
        for d in card["training_data"]:
            prof = d["profile"]
            if prof and prof["column_summaries"]:
                lines += [f"Profile of {_cell(d['name'])}:", ""]
                lines += _table(
                    ["Column", "Kind", "Null share", "Mean", "Min", "Max", "Most frequent"],
                    [
                        [
                            c["name"],
                            c["kind"],
                            c["null_share"],
                            c.get("mean"),
                            c.get("min"),
                            c.get("max"),
                            ", ".join(map(str, c.get("top") or [])) or None,
                        ]
                        for c in prof["column_summaries"]
                    ],
                )
    else:
        lines += ["_No training dataset recorded._", ""]
    lines += ["## Metrics", ""]
    lines += (
        _table(["Metric", "Value"], sorted(card["metrics"].items()))
        if card["metrics"]
        else ["_No metrics recorded._", ""]
    )
    lines += ["## Explanation", ""]
    ex = card["explanation"]
    if ex:
        ds = ex["dataset"] or {}
        lines += [
            f"Method: {_cell(ex['method'])}; {ex['n_features']} features"
            + (f"; computed on {_cell(ds.get('name'))} ({_cell(ds.get('hash'))})" if ds else "")
            + ".",
            "",
        ]
        lines += _table(
            ["Rank", "Feature", "Importance"],
            [[t["rank"], t["feature"], t["importance"]] for t in ex["top_features"]],
        )
        if ex["local_sample"]:
            lines += [
                f"A sample of {ex['local_sample']['rows']} local explanations is stored with the version.",
                "",
            ]
    else:
        lines += ["_No explanation recorded._", ""]
    lines += ["## Approval history", ""]
    if card["approval_history"]:
        lines += _table(
            ["When", "What", "Who", "From", "To", "Comment"],
            [
                [_when(h["at"]), h["action"].replace("_", " "), h["actor"], h["from"], h["to"], h["comment"]]
                for h in card["approval_history"]
            ],
        )
    else:
        lines += ["_No history._", ""]
    lines += ["## Production monitoring", ""]
    mon = card["monitoring"]
    lines += [f"**Status: {mon['status'].replace('_', ' ')}.** {mon['summary']}", ""]
    if mon["monitors"]:
        lines += _table(
            [
                "Monitor",
                "Follows",
                "Live version",
                "Watches this version",
                "Latest closed window",
                "Dataset drift",
                "Metric",
            ],
            [_monitor_row(m) for m in mon["monitors"]],
        )
    else:
        lines += ["_No monitor is set up for this model._", ""]
    if mon["open_alerts"]:
        lines += ["Unresolved alerts of the model:", ""]
        lines += _table(
            ["Rule", "Column", "Severity", "Status", "On version", "Message"],
            [
                [a["rule"], a["column"], a["severity"], a["status"], a["model_version"], a["message"]]
                for a in mon["open_alerts"]
            ],
        )
    else:
        lines += ["No open alerts.", ""]
    if card["open_questions"]:
        lines += ["## Open questions", ""] + [f"- {q}" for q in card["open_questions"]] + [""]
    lines += [f"_Generated by Tether at {_when(card['generated_at'])} ({card['format']})._", ""]
    return "\n".join(lines)


def _monitor_row(m: dict[str, Any]) -> list[Any]:
    w = m["latest_window"]
    if w is None:
        return [
            m["name"],
            m["follows"],
            m["live_version"],
            "yes" if m["watches_this_version"] else "no",
            "none yet",
            "",
            "",
        ]
    drift = w["dataset_drift"] or "no data"
    if w["drifted_share"] is not None:
        drift += f" ({w['drifted_share']:.0%} of columns drifted"
        if w["weighted_share"] is not None:
            drift += f", {w['weighted_share']:.0%} of importance"
        drift += ")"
    metric = w["metric"] or {}
    perf = (
        f"{_cell(metric.get('value'))} vs baseline {_cell(metric.get('baseline'))} ({metric.get('status') or 'ok'})"
        if metric.get("value") is not None
        else "no labels"
    )
    return [
        m["name"],
        m["follows"],
        m["live_version"],
        "yes" if m["watches_this_version"] else "no",
        f"{_when(w['window_start'])} (v{w['model_version']})",
        drift,
        perf,
    ]
