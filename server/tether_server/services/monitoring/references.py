"""A monitor's reference: the live version's training data profile (or a named dataset version),
restricted to the monitor's columns, with the baseline metric of the version's run.

``current_reference`` resolves the live version of the monitor's stage/alias every time it is
asked and adds a ``monitor_references`` row when the version (or its datasets) changed, so posted
summaries can be checked against the edges in force and the history shows the change.

Several training datasets are merged into one profile (``merge_profiles``): counts, nulls, mean
and M2 (Chan) exactly; numeric bin edges are the deciles of the mixture of the profiles'
piecewise-uniform histograms (each bin's mass spread evenly between its edges, the open outer
bins closed at min/max), and bin counts are that mixture's mass per new bin (rounded, so they sum
to the merged count). Categorical tops are re-ranked on the summed counts; categories that fall
out of the top 50 go to ``other``.
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..._lazy import lazy_module
from ...db import Database
from ...errors import FailedPrecondition
from ...models import Dataset, DatasetVersion, LatestMetric
from ...models.monitoring import Monitor, MonitorReference
from ...models.registry import ModelAlias, ModelVersion, ModelVersionInput
from ..explain.records import importances_for_version

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

PROFILE_FORMAT = "tether.profile/1"
TOP_K = 50


# ---------------------------------------------------------------- profile merge


def _numeric_grid(col: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    edges = [col["min"], *col["bin_edges"], col["max"]]
    return np.asarray(edges, dtype=np.float64), np.asarray(col["bin_counts"], dtype=np.float64)


def _mixture_cdf(grids: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    total = np.zeros_like(x)
    for edges, counts in grids:
        lo, hi = edges[:-1], edges[1:]
        width = np.where(hi > lo, hi - lo, 1.0)
        frac = np.clip((x[:, None] - lo[None, :]) / width[None, :], 0.0, 1.0)
        frac = np.where(hi[None, :] > lo[None, :], frac, (x[:, None] >= lo[None, :]).astype(float))
        total += frac @ counts
    return total


def _merge_numeric(cols: list[dict[str, Any]]) -> dict[str, Any]:
    usable = [c for c in cols if c.get("bin_edges") and c.get("min") is not None]
    count = sum(c["count"] for c in cols)
    out: dict[str, Any] = {"kind": "numeric", "type": cols[0].get("type", "float"), "count": count}
    out["nulls"] = sum(c.get("nulls", 0) for c in cols)
    mean, m2, n = 0.0, 0.0, 0
    for c in cols:  # Chan's pairwise merge of the moments
        nb = c["count"]
        if nb:
            d = c["mean"] - mean
            tot = n + nb
            mean, m2, n = mean + d * nb / tot, m2 + c["m2"] + d * d * n * nb / tot, tot
    out.update(mean=mean, m2=m2)
    if not usable:
        return {**out, "min": None, "max": None, "bin_edges": [], "bin_counts": []}
    grids = [_numeric_grid(c) for c in usable]
    lo, hi = min(c["min"] for c in usable), max(c["max"] for c in usable)
    xs = np.unique(np.concatenate([g[0] for g in grids]))
    cdf = _mixture_cdf(grids, xs)
    mass = cdf[-1]
    targets = mass * np.arange(1, 10) / 10
    edges = np.interp(targets, cdf, xs).tolist()
    inner = _mixture_cdf(grids, np.asarray(edges))
    cum = np.concatenate([[0.0], inner, [mass]])
    raw = np.diff(cum)  # the mixture's mass per new bin (sums to the binned count)
    counts = np.floor(raw).astype(int)
    short = int(round(raw.sum())) - int(counts.sum())
    for i in np.argsort(-(raw - counts))[:short]:
        counts[i] += 1
    return {**out, "min": lo, "max": hi, "bin_edges": edges, "bin_counts": counts.tolist()}


def _merge_categorical(cols: list[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, int] = {}
    for c in cols:
        for value, cnt in c.get("top", []):
            totals[value] = totals.get(value, 0) + cnt
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    top = ranked[:TOP_K]
    count = sum(c["count"] for c in cols)
    return {
        "kind": "categorical",
        "type": cols[0].get("type", "string"),
        "count": count,
        "nulls": sum(c.get("nulls", 0) for c in cols),
        "top": [[v, n] for v, n in top],
        "other": count - sum(n for _, n in top),
    }


def merge_profiles(profiles: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One ``tether.profile/1`` from several (see the module docstring for what is exact)."""
    if len(profiles) == 1:
        return profiles[0]
    names: dict[str, None] = {}
    for p in profiles:
        names.update(dict.fromkeys(p.get("columns", {})))
    columns: dict[str, Any] = {}
    for name in names:
        cols = [p["columns"][name] for p in profiles if name in p.get("columns", {})]
        kinds = {c.get("kind") for c in cols}
        if len(kinds) != 1:
            continue  # a column that changed kind between datasets cannot be a reference
        columns[name] = _merge_numeric(cols) if kinds == {"numeric"} else _merge_categorical(cols)
    return {"format": PROFILE_FORMAT, "rows": sum(p.get("rows", 0) for p in profiles), "columns": columns}


def restrict(profile: dict[str, Any], columns: list[str] | None) -> dict[str, Any]:
    cols = profile.get("columns", {})
    keep = list(cols) if columns is None else [c for c in columns if c in cols]
    return {"format": PROFILE_FORMAT, "rows": profile.get("rows", 0), "columns": {c: cols[c] for c in keep}}


# ---------------------------------------------------------------- live version and datasets


def live_version(session: Session, monitor: Monitor) -> ModelVersion | None:
    if monitor.alias:
        return session.scalar(
            select(ModelVersion)
            .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
            .where(ModelAlias.model_id == monitor.model_id, ModelAlias.alias == monitor.alias)
        )
    return session.scalar(
        select(ModelVersion)
        .where(ModelVersion.model_id == monitor.model_id, ModelVersion.stage == monitor.stage)
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )


def _dataset_versions(session: Session, monitor: Monitor, mv: ModelVersion) -> list[tuple[int, str, str]]:
    """(id, root_hash, dataset name) of the reference datasets; profiles load only for a new reference."""
    q = select(DatasetVersion.id, DatasetVersion.root_hash, Dataset.name).join(
        Dataset, Dataset.id == DatasetVersion.dataset_id
    )
    if monitor.reference_dataset_version_id is not None:
        q = q.where(DatasetVersion.id == monitor.reference_dataset_version_id)
    else:
        ids = select(ModelVersionInput.dataset_version_id).where(
            ModelVersionInput.version_id == mv.id, ModelVersionInput.context == "training"
        )
        q = q.where(DatasetVersion.id.in_(ids))
    return [(i, h, n) for i, h, n in session.execute(q.order_by(DatasetVersion.id))]


def _profiles(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    q = select(DatasetVersion.profile).where(DatasetVersion.id.in_(ids)).order_by(DatasetVersion.id)
    return [p for (p,) in session.execute(q) if p]


def _baseline(session: Session, monitor: Monitor, mv: ModelVersion) -> float | None:
    key = monitor.baseline_metric or monitor.metric
    if not key or not mv.run_id:
        return None
    row = session.execute(
        select(LatestMetric.value, LatestMetric.is_nan).where(
            LatestMetric.run_id == mv.run_id, LatestMetric.key == key
        )
    ).first()
    if row is None or row[1] or row[0] is None or not math.isfinite(row[0]):
        return None
    return float(row[0])


def latest_reference(session: Session, monitor_id: int) -> MonitorReference | None:
    return session.scalar(
        select(MonitorReference)
        .where(MonitorReference.monitor_id == monitor_id)
        .order_by(MonitorReference.id.desc())
        .limit(1)
    )


def _live_state(
    session: Session, monitor: Monitor
) -> tuple[ModelVersion, MonitorReference | None, list[Any], str]:
    """(live version, the newest reference if it is still in force else None, the live version's
    training dataset versions, what the monitor follows). FailedPrecondition without a live version."""
    where = f"alias {monitor.alias!r}" if monitor.alias else f"stage {monitor.stage!r}"
    mv = live_version(session, monitor)
    if mv is None:
        raise FailedPrecondition(
            f"The model has no version in {where} to monitor", {"monitor_id": monitor.id}
        )
    latest = latest_reference(session, monitor.id)
    dvs = _dataset_versions(session, monitor, mv)
    ids = [dv[0] for dv in dvs]
    if latest is not None and latest.model_version_id == mv.id and latest.dataset_version_ids == ids:
        return mv, latest, dvs, where
    return mv, None, dvs, where


def recorded_reference(session: Session, monitor: Monitor) -> MonitorReference | None:
    """The reference in force when it is already recorded; None (nothing written) when the live
    version changed and ``current_reference`` would add a row."""
    return _live_state(session, monitor)[1]


def current_reference(session: Session, monitor: Monitor) -> MonitorReference:
    """The reference in force for the live version, adding a row when it changed.
    FailedPrecondition (409) when there is no live version or no profiled dataset."""
    mv, latest, dvs, where = _live_state(session, monitor)
    if latest is not None:
        return latest
    ids = [dv[0] for dv in dvs]
    profiles = _profiles(session, ids)
    if not profiles:
        raise FailedPrecondition(
            f"Version {mv.version} ({where}) has no profiled training dataset to use as the reference; "
            "log the dataset with a profile or set reference.dataset_version_id",
            {"monitor_id": monitor.id, "version": mv.version},
        )
    ref = MonitorReference(
        monitor_id=monitor.id,
        model_version_id=mv.id,
        model_version=mv.version,
        dataset_version_ids=ids,
        datasets=[{"id": i, "name": name, "digest": digest} for i, digest, name in dvs],
        profile=restrict(merge_profiles(profiles), monitor.columns),
        baseline=_baseline(session, monitor, mv),
    )
    session.add(ref)
    session.flush()
    return ref


# ---------------------------------------------------------------- the posting fast path


@dataclass(frozen=True)
class ReferenceView:
    """An immutable copy of a ``monitor_references`` row (the rows are never updated), shared by
    the requests of one process through :class:`ReferenceCache`."""

    id: int
    model_version_id: int | None
    model_version: int | None
    dataset_version_ids: list[int]
    datasets: list[dict[str, Any]]
    profile: dict[str, Any]
    baseline: float | None
    created_at: int

    @functools.cached_property
    def layout(self) -> Any:
        """Per column the kind and bins a posted summary must have (``summary_check.layout_of``)."""
        from .summary_check import layout_of

        return layout_of(self.profile)

    @classmethod
    def of(cls, ref: MonitorReference) -> ReferenceView:
        return cls(
            ref.id,
            ref.model_version_id,
            ref.model_version,
            list(ref.dataset_version_ids or []),
            list(ref.datasets or []),
            ref.profile,
            ref.baseline,
            ref.created_at,
        )


class ReferenceCache:
    """Reference rows by id (bounded, least recently used out). Entries never go stale: a promotion
    adds a new reference row, and :func:`posting_reference` checks on every post, in the same query
    that loads the monitor, that the cached reference is still the one in force."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[int, ReferenceView] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def peek(self, ref_id: int) -> ReferenceView | None:
        """The cached view, or None; never a query (so never a transaction begun)."""
        with self._lock:
            hit = self._items.get(ref_id)
            if hit is not None:
                self._items.move_to_end(ref_id)
            return hit

    def get(self, session: Session, ref_id: int) -> ReferenceView | None:
        with self._lock:
            hit = self._items.get(ref_id)
            if hit is not None:
                self._items.move_to_end(ref_id)
                return hit
        row = session.get(MonitorReference, ref_id)
        if row is None:
            return None
        view = ReferenceView.of(row)
        with self._lock:
            self._items[ref_id] = view
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return view


def cache_of(owner: Session | Database) -> ReferenceCache:
    """The process's reference cache, kept in the Database's ``caches`` (its sessions'
    ``info["caches"]``; added by the first monitoring call: the area loads on first use)."""
    if isinstance(owner, Database):
        caches = owner.caches
    else:  # a session made outside Database (tests) gets a private one
        caches = owner.info.setdefault("caches", {})
    cache = caches.get("monitor_references")
    if cache is None:
        cache = caches.setdefault("monitor_references", ReferenceCache())  # one winner if two race
    return cache  # type: ignore[no-any-return]


class PostingMonitor(NamedTuple):
    """The columns of a ``monitors`` row a data post needs (read as plain values by the posting
    statement: no ORM object, none of the monitor's JSON settings decoded)."""

    id: int
    model_id: int
    stage: str | None
    alias: str | None
    reference_dataset_version_id: int | None
    window_seconds: int
    prediction_column: str | None
    label_column: str | None


_POSTING_COLUMNS = [getattr(Monitor, name) for name in PostingMonitor._fields]


@functools.cache
def posting_statement(with_grant: bool) -> Any:
    """The monitor's ``PostingMonitor`` columns, then the live version of its stage and of its
    alias, its newest reference id and (``with_grant``) the caller's grant on its model: one
    round trip per post (built once)."""
    from ..identity import permissions

    live_stage, live_alias, newest = live_and_newest()
    cols: list[Any] = [*_POSTING_COLUMNS, live_stage, live_alias, newest]
    if with_grant:
        cols.append(permissions.bound_grant_level("model", Monitor.model_id))
    # PostgreSQL: a prepared statement of each connection (key lookups only: one plan fits all)
    return select(*cols).where(Monitor.id == bindparam("mid")).execution_options(tether_prepare=True)


def live_and_newest() -> tuple[Any, Any, Any]:
    """Scalar subqueries correlated to ``monitors``: the live version id of its stage, of its
    alias, and its newest reference id."""
    live_stage = (
        select(ModelVersion.id)
        .where(ModelVersion.model_id == Monitor.model_id, ModelVersion.stage == Monitor.stage)
        .order_by(ModelVersion.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    live_alias = (
        select(ModelAlias.version_id)
        .where(ModelAlias.model_id == Monitor.model_id, ModelAlias.alias == Monitor.alias)
        .scalar_subquery()
    )
    newest = (
        select(MonitorReference.id)
        .where(MonitorReference.monitor_id == Monitor.id)
        .order_by(MonitorReference.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return live_stage, live_alias, newest


def in_force(monitor: Monitor | PostingMonitor, view: ReferenceView, live_version_id: int | None) -> bool:
    """Whether the newest reference still describes the live version (what current_reference
    would conclude without adding a row). A version's training inputs never change after it
    is registered, so the version id and the monitor's named dataset decide it."""
    if live_version_id is None or view.model_version_id != live_version_id:
        return False
    named = monitor.reference_dataset_version_id
    return named is None or view.dataset_version_ids == [named]


def importances_for(
    session: Session, monitor: Monitor, ref: MonitorReference | ReferenceView | None
) -> tuple[dict[str, float] | None, str | None]:
    """The importances the weighted dataset-drift rule uses for windows on ``ref``, and where they
    come from: the monitor's explicit ``importances`` setting wins; otherwise the global explanation
    of the reference's model version (so the weights follow the live version through promotions);
    ``(None, None)`` when neither exists (the weighted rule is then not evaluated)."""
    if monitor.importances is not None:
        return {k: abs(float(v)) for k, v in monitor.importances.items()}, "monitor"
    if ref is None or ref.model_version_id is None:
        return None, None
    imp = importances_for_version(session, ref.model_version_id)
    if imp is None:
        return None, None
    return imp, f"explanation of version {ref.model_version}"


def reference_json(
    monitor: Monitor | PostingMonitor, ref: MonitorReference | ReferenceView
) -> dict[str, Any]:
    return {
        "reference_id": ref.id,
        "model_version": ref.model_version,
        "datasets": ref.datasets,
        "profile": ref.profile,
        "window_seconds": monitor.window_seconds,
        "columns": list(ref.profile["columns"]),
        "prediction_column": monitor.prediction_column,
        "label_column": monitor.label_column,
        "baseline": ref.baseline,
        "created_at": ref.created_at,
    }
