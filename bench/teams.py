"""Search and list speed by how a user got access (issue 16: groups and broad grants).

The same standard search (``bench.core.SEARCH_FILTER`` over 5,000 runs, 100 full runs returned)
and the first page of ``GET /experiments`` (100 of 201 experiments), timed for four principals on
one server and one database:

- **owner**: the writer who created everything (MANAGE grants of their own);
- **direct**: a viewer with a READ grant of their own on each of the 201 experiments;
- **group**: a viewer whose only access is their group's READ grants on the same experiments;
- **broad**: a viewer with one READ grant on every experiment (``resource_id = "*"``).

Around them sit 20 other groups (with grants on other experiments) and 60 other users, so the
grant and membership tables are not trivially small. The group and broad rows need a server with
groups; against an older server (before issue 16) they are reported as skipped, which is how the
"before" column of the closing note was measured with this same module.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from . import Context, Row, fmt_ms, percentile
from .core import _analyze, _check_search, grow, search_request

EXPERIMENTS = 200  # besides the searched one
LOOPS = 105  # the first 5 are warm-up


def run(ctx: Context) -> list[Row]:
    writer_uid, writer_token = ctx.user("writer")
    admin = ctx.http()
    t0 = time.perf_counter()
    exp_id = ctx.experiment("bench-teams", writer_token)
    grow(ctx, exp_id, 5_000)
    others = [ctx.experiment("bench-teams-list", writer_token) for _ in range(EXPERIMENTS)]
    exps = [exp_id, *others]
    principals: dict[str, str | None] = {"owner": writer_token}

    uid, token = _user(ctx, "direct")
    for e in exps:
        _grant(admin, ctx, {"user_id": uid}, str(e))
    principals["direct"] = token

    groups_ok = admin.get(ctx.url("/groups")).status_code == 200
    if groups_ok:
        for i in range(60):  # other users, some of them in the other groups
            _user(ctx, f"other{i}")
        for g in range(20):
            name = f"bench-noise-{g}-{uuid.uuid4().hex[:6]}"
            admin.post(ctx.url("/groups"), json={"name": name}).raise_for_status()
            for i in range(3):
                admin.put(
                    ctx.url(f"/groups/{name}/members/{ctx._names[f'other{g * 3 + i}']}")
                ).raise_for_status()
            for e in others[g * 10 : g * 10 + 10]:
                _grant(admin, ctx, {"group": name}, str(e))
        uid, token = _user(ctx, "member")
        group = f"bench-readers-{uuid.uuid4().hex[:6]}"
        admin.post(ctx.url("/groups"), json={"name": group}).raise_for_status()
        admin.put(ctx.url(f"/groups/{group}/members/{ctx._names['member']}")).raise_for_status()
        for e in exps:
            _grant(admin, ctx, {"group": group}, str(e))
        principals["group"] = token
        uid, token = _user(ctx, "broad")
        _grant(admin, ctx, {"user_id": uid}, "*")
        principals["broad"] = token
    else:
        principals["group"] = principals["broad"] = None
    _analyze(ctx)
    rows = [Row("setup: 5,000 runs, 201 experiments, grants", "info", f"{time.perf_counter() - t0:.1f} s")]

    for who, tok in principals.items():
        if tok is None:
            rows.append(Row(f"search @ 5,000 runs, {who}", "info", "skipped", None, "server has no groups"))
            rows.append(Row(f"list experiments, {who}", "info", "skipped", None, "server has no groups"))
            continue
        rows.append(_search(ctx, tok, exp_id, who))
        rows.append(_list(ctx, tok, who))
    return rows


def _user(ctx: Context, label: str) -> tuple[int, str]:
    name = f"bench-{label}-{uuid.uuid4().hex[:6]}"
    r = ctx.http().post(ctx.url("/users"), json={"name": name, "role": "viewer", "token_name": "bench"})
    r.raise_for_status()
    if not hasattr(ctx, "_names"):
        ctx._names = {}  # type: ignore[attr-defined]
    ctx._names[label] = name  # type: ignore[attr-defined]
    return int(r.json()["id"]), str(r.json()["token"])


def _grant(admin: Any, ctx: Context, grantee: dict[str, Any], resource_id: str) -> None:
    body = {**grantee, "resource_type": "experiment", "resource_id": resource_id, "level": "READ"}
    admin.put(ctx.url("/permissions"), json=body).raise_for_status()


def _timed(fn: Any) -> list[float]:
    lat = []
    for i in range(LOOPS):
        t = time.perf_counter()
        fn(i)
        if i >= 5:
            lat.append(time.perf_counter() - t)
    return lat


def _latency_row(metric: str, lat: list[float], what: str) -> Row:
    p50, p95 = fmt_ms(percentile(lat, 50)), fmt_ms(percentile(lat, 95))
    return Row(metric, "info", p50, None, f"p95 {p95}, min {fmt_ms(min(lat))}; {what}")


def _search(ctx: Context, token: str, exp_id: int, who: str) -> Row:
    s = ctx.http(token)
    body = orjson.dumps(search_request(exp_id))

    def one(i: int) -> None:
        r = s.post(ctx.url("/runs/search"), data=body)
        if r.status_code != 200:
            raise RuntimeError(f"search as {who} got {r.status_code}: {r.text[:200]}")
        items = orjson.loads(r.content)["items"]
        if i == 0:
            _check_search(items)

    return _latency_row(f"search @ 5,000 runs, {who}", _timed(one), "100 runs/page")


def _list(ctx: Context, token: str, who: str) -> Row:
    s = ctx.http(token)

    def one(i: int) -> None:
        r = s.get(ctx.url("/experiments"), params={"max_results": 100})
        if r.status_code != 200:
            raise RuntimeError(f"list as {who} got {r.status_code}: {r.text[:200]}")
        if i == 0 and len(orjson.loads(r.content)["items"]) != 100:
            raise RuntimeError(f"list as {who} did not see 100 experiments")

    return _latency_row(f"list experiments, {who}", _timed(one), "first page of 100 (201 visible)")
