"""Dataset hashing and profiling on the client: exact lineage without uploading the data.

Hashing (format ``tether-dataset-v1``): a sha256 per file, then a Merkle-style root
``sha256("tether-dataset-v1\\n" + for each file sorted by relative POSIX path: path + "\\0" + sha256 + "\\n")``.
The server recomputes the same root from the manifest.

Profile format ``tether.profile/1`` (stable; the drift monitor compares production data against it)::

    {"format": "tether.profile/1", "rows": int,
     "columns": {
       "<name>": {"kind": "numeric", "type": "int"|"float", "count": int, "nulls": int,
                  "mean": float, "m2": float,            # std = sqrt(m2 / (count - 1))
                  "min": float, "max": float,
                  "bin_edges": [e1..e9],                 # deciles of the reference data
                  "bin_counts": [c0..c9]},               # c0: x < e1; ci: e_i <= x < e_(i+1); c9: x >= e9
       "<name>": {"kind": "categorical", "type": "string", "count": int, "nulls": int,
                  "top": [[value, count], ...],          # up to 50, most frequent first
                  "other": int}}}                        # non-null values outside the top 50

Deciles come from a uniform reservoir sample of up to 100,000 values per column (exact below that);
counts, nulls, mean, M2, min, max and bin counts are exact. CSV needs nothing beyond the standard
library; Parquet needs the ``parquet`` extra (pyarrow).
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import math
import os
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PROFILE_FORMAT = "tether.profile/1"
ROOT_PREFIX = b"tether-dataset-v1\n"
READ_SIZE = 4 * 1024 * 1024
NULLS = frozenset({"", "NA", "N/A", "null", "NULL", "None", "nan", "NaN"})
TOP_K = 50
SAMPLE = 100_000


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    buf = bytearray(READ_SIZE)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def manifest(path: str | os.PathLike[str], workers: int = 4) -> list[dict[str, Any]]:
    """``[{path, size, sha256}]`` for a file or a directory tree (paths relative, POSIX, sorted)."""
    root = Path(path)
    files = _files(root)
    base = root.parent if root.is_file() else root
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # hashlib releases the GIL
        hashes = list(pool.map(sha256_file, files))
    out = [
        {"path": f.relative_to(base).as_posix(), "size": f.stat().st_size, "sha256": h}
        for f, h in zip(files, hashes, strict=True)
    ]
    return sorted(out, key=lambda e: e["path"])


def merkle_root(entries: Iterable[dict[str, Any]]) -> str:
    h = hashlib.sha256(ROOT_PREFIX)
    for f in sorted(entries, key=lambda e: e["path"]):
        h.update(f["path"].encode() + b"\0" + f["sha256"].encode() + b"\n")
    return h.hexdigest()


# ---------------------------------------------------------------- profiling


class _Column:
    def __init__(self, seed: int) -> None:
        self.count = self.nulls = 0
        self.numeric = True
        self.is_int = True
        self.mean = self.m2 = 0.0
        self.min, self.max = math.inf, -math.inf
        self.sample: list[float] = []
        self.rng = random.Random(seed)
        self.cats: Counter[str] = Counter()

    def add(self, raw: Any) -> None:
        if (
            raw is None
            or (isinstance(raw, str) and raw.strip() in NULLS)
            or (isinstance(raw, float) and math.isnan(raw))
        ):
            self.nulls += 1
            return
        self.count += 1
        self.cats[str(raw)] += 1
        if not self.numeric:
            return
        try:
            x = float(raw) if not isinstance(raw, bool) else math.nan
        except (TypeError, ValueError):
            x = math.nan
        if math.isnan(x) or math.isinf(x):
            self.numeric = False
            return
        if self.is_int and not (
            isinstance(raw, int) or (isinstance(raw, str) and raw.strip().lstrip("+-").isdigit())
        ):
            self.is_int = False
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)
        self.min, self.max = min(self.min, x), max(self.max, x)
        if len(self.sample) < SAMPLE:
            self.sample.append(x)
        else:
            j = self.rng.randrange(self.count)
            if j < SAMPLE:
                self.sample[j] = x

    def edges(self) -> list[float]:
        s = sorted(self.sample)
        if not s:
            return []
        return [s[min(len(s) - 1, int(q * len(s) / 10))] for q in range(1, 10)]

    def numeric_profile(self, counts: list[int], edges: list[float]) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "type": "int" if self.is_int else "float",
            "count": self.count,
            "nulls": self.nulls,
            "mean": self.mean if self.count else None,
            "m2": self.m2,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
            "bin_edges": edges,
            "bin_counts": counts,
        }

    def categorical_profile(self) -> dict[str, Any]:
        top = self.cats.most_common(TOP_K)
        return {
            "kind": "categorical",
            "type": "string",
            "count": self.count,
            "nulls": self.nulls,
            "top": [[v, c] for v, c in top],
            "other": self.count - sum(c for _, c in top),
        }


def _profile(names: list[str], rows: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``rows`` is a callable returning a fresh row iterator (two passes: stats, then bin counts)."""
    cols = [_Column(i) for i in range(len(names))]
    n = 0
    for row in rows():
        n += 1
        for c, v in zip(cols, row, strict=False):
            c.add(v)
    numeric = {i: c.edges() for i, c in enumerate(cols) if c.numeric and c.count}
    counts = {i: [0] * 10 for i in numeric}
    if numeric:
        for row in rows():
            for i, edges in numeric.items():
                v = row[i] if i < len(row) else None
                try:
                    x = float(v)  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    continue
                if not math.isnan(x):
                    counts[i][bisect.bisect_right(edges, x)] += 1
    columns = {
        name: (c.numeric_profile(counts[i], numeric[i]) if i in numeric else c.categorical_profile())
        for i, (name, c) in enumerate(zip(names, cols, strict=True))
    }
    schema = {"columns": [{"name": name, "type": p["type"]} for name, p in columns.items()]}
    return schema, {"format": PROFILE_FORMAT, "rows": n, "columns": columns}


def profile_csv(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as fh:
        names = next(csv.reader(fh), [])

    def rows() -> Iterator[list[str]]:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            yield from reader

    return _profile(names, rows)


def profile_parquet(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover - depends on the extra
        raise RuntimeError("profiling Parquet needs pyarrow: pip install 'tether[parquet]'") from e
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names

    def rows() -> Iterator[tuple[Any, ...]]:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65536):
            yield from zip(*(col.to_pylist() for col in batch.columns), strict=True)

    schema, prof = _profile(names, rows)
    types = {f.name: str(f.type) for f in pf.schema_arrow}
    schema = {"columns": [{**c, "arrow_type": types[c["name"]]} for c in schema["columns"]]}
    return schema, prof


def profile_path(path: str | os.PathLike[str]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Schema and profile for a CSV/Parquet file, or for the first such file in a directory."""
    p = Path(path)
    candidates = [p] if p.is_file() else _files(p)
    for f in candidates:
        suffix = f.suffix.lower()
        if suffix in (".csv", ".tsv") and suffix == ".csv":
            return profile_csv(f)
        if suffix in (".parquet", ".pq"):
            return profile_parquet(f)
    return None, None


def dataset_payload(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    context: str = "training",
    profile: bool = True,
    source: str | None = None,
) -> dict[str, Any]:
    """The body of ``POST /runs/{id}/datasets``: manifest and root hash (and schema/profile)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(str(p))
    entries = manifest(p)
    if not entries:
        raise ValueError(f"{p} holds no files to hash")
    schema, prof = profile_path(p) if profile else (None, None)
    return {
        "name": name or p.name,
        "context": context,
        "manifest": entries,
        "root_hash": merkle_root(entries),
        "schema": schema,
        "profile": prof,
        "source": source if source is not None else str(p.resolve()),
    }


def log_dataset(
    http: Any,
    base_url: str,
    run_id: str,
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    context: str = "training",
    profile: bool = True,
    source: str | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Hash ``path`` locally and record it as an input of ``run_id`` with a bare ``requests`` session
    (the SDK's ``client.datasets.log`` / ``run.log_dataset`` do the same through the ``Client``)."""
    body = dataset_payload(path, name=name, context=context, profile=profile, source=source)
    r = http.post(f"{base_url.rstrip('/')}/api/v1/runs/{run_id}/datasets", json=body, timeout=timeout)
    if r.status_code >= 400:
        from .errors import error_from_response

        raise error_from_response(r.status_code, r.content, r.headers)
    return r.json()
