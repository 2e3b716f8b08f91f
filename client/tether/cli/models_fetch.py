"""``tether models fetch``: download a version into a folder and write its manifest for the deploy step.

The version is looked up through the SDK's ``Client.request``; downloads stream with ``requests`` and
are checked against the manifest's sha256 and size. The ``models`` group is in ``models``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from .._config import resolve_token
from ..errors import APIConnectionError
from ._common import (
    EXIT_CODES_HELP,
    emit,
    fail,
    handle_errors,
    info,
    json_option,
    make_client,
    retries_from_env,
)
from .models import _q, models

MANIFEST = "tether-model.json"
CHUNK = 1024 * 1024


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(
    session: Any, url: str, headers: dict[str, str], target: Path, timeout: float
) -> tuple[int, str]:
    """Stream ``url`` into ``target`` (a .part file); returns (bytes, sha256). Retries transient failures."""
    import requests

    attempts = retries_from_env()
    for attempt in range(attempts + 1):
        try:
            h, n = hashlib.sha256(), 0
            with session.get(url, headers=headers, stream=True, timeout=timeout, allow_redirects=False) as r:
                if r.status_code in (429, 500, 502, 503, 504) and attempt < attempts:
                    raise requests.ConnectionError(f"HTTP {r.status_code}")
                if r.status_code != 200:
                    from ..errors import error_from_response

                    raise error_from_response(r.status_code, r.content, r.headers)
                with open(target, "wb") as fh:
                    for chunk in r.iter_content(CHUNK):
                        h.update(chunk)
                        n += len(chunk)
                        fh.write(chunk)
            return n, h.hexdigest()
        except requests.RequestException as exc:
            if attempt >= attempts:
                raise APIConnectionError(
                    f"download of {urlsplit(url).path} failed: {type(exc).__name__}"
                ) from None
            time.sleep(min(30.0, 0.5 * 2**attempt))
    raise AssertionError("unreachable")


@models.command("fetch", epilog=EXIT_CODES_HELP)
@click.option("--name", required=True)
@click.option("--stage", default=None, help="e.g. production (default when no --alias)")
@click.option("--alias", default=None)
@click.option("--dst", required=True, type=click.Path(file_okay=False), help="folder to write the files into")
@click.option("--manifest", default=None, help=f"where to write the manifest (default: DST/{MANIFEST})")
@json_option
@handle_errors
def fetch(
    name: str, stage: str | None, alias: str | None, dst: str, manifest: str | None, as_json: bool
) -> None:
    """Download a version, verify every file's size and sha256 (exit 1 on any mismatch) and write a
    manifest (model, version, run, files with sha256) for the deploy step."""
    if stage and alias:
        raise click.UsageError("give --stage or --alias, not both")
    import requests

    root = Path(dst).resolve()
    root.mkdir(parents=True, exist_ok=True)
    with make_client() as c:
        pointer = f"aliases/{_q(alias)}" if alias else f"stages/{_q(stage or 'production')}"
        dep = c.request("GET", f"/models/{_q(name)}/{pointer}")
        origin = urlsplit(c.base_url)
        token = resolve_token(None, c.base_url)
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        bad: list[str] = []
        files = []
        with requests.Session() as http:
            for f in dep["files"]:
                target = (root / f["path"]).resolve()
                if target == root or root not in target.parents:
                    fail(f"refusing to write outside {root}: {f['path']!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                if (
                    target.is_file()
                    and target.stat().st_size == f["size"]
                    and _sha256_of(target) == f["sha256"]
                ):
                    files.append({"path": f["path"], "size": f["size"], "sha256": f["sha256"]})
                    continue  # already here and intact
                u = urlsplit(f["download_url"])
                same = (u.scheme, u.netloc) == (origin.scheme, origin.netloc)
                part = target.with_name(target.name + ".part")
                n, digest = _download(http, f["download_url"], auth if same else {}, part, c.timeout)
                if n != f["size"] or digest != f["sha256"]:
                    part.unlink(missing_ok=True)
                    bad.append(
                        f"{f['path']}: got {n} bytes sha256 {digest}, expected {f['size']} bytes sha256 {f['sha256']}"
                    )
                    continue
                os.replace(part, target)
                files.append({"path": f["path"], "size": f["size"], "sha256": f["sha256"]})
    if bad:
        for line in bad:
            info(f"MISMATCH {line}")
        fail(f"{len(bad)} of {len(dep['files'])} files failed verification; nothing was written for them")
    doc = {
        "format": "tether-model/1",
        "model": name,
        "version": dep["version"],
        "stage": dep.get("stage"),
        "aliases": dep.get("aliases", []),
        "run_id": dep.get("run_id"),
        "metadata": dep.get("metadata"),
        "datasets": dep.get("datasets", []),
        "server": c.base_url,
        "fetched_at": int(time.time() * 1000),
        "files": files,
    }
    mpath = Path(manifest) if manifest else root / MANIFEST
    mpath.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    info(f"fetched {name} version {dep['version']} ({len(files)} files, sha256 verified) into {root}")
    emit(as_json, {**doc, "dst": str(root), "manifest": str(mpath)}, str(root))
