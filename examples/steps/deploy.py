"""A stand-in deploy step: reads the manifest written by `tether models fetch`, re-checks every
file's sha256, smoke-tests the model and "releases" it by copying it to DEPLOY_DIR (default
./released) under its version. Replace the copy with your kubectl/helm/serving call.

    python3 deploy.py deploy/model
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
from pathlib import Path


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/model")
    manifest = json.loads((src / "tether-model.json").read_text())
    for f in manifest["files"]:
        digest = hashlib.sha256((src / f["path"]).read_bytes()).hexdigest()
        if digest != f["sha256"]:
            sys.exit(f"{f['path']}: sha256 mismatch, refusing to deploy")
    model = json.loads((src / "model.json").read_text())
    p = 1 / (1 + math.exp(-(model["w"] * 2.0 + model["b"])))
    if not 0.5 < p < 1.0:
        sys.exit(f"smoke test failed: p(x=2) = {p}")
    dst = Path(os.environ.get("DEPLOY_DIR", "released")) / f"{manifest['model']}-v{manifest['version']}"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    print(f"deployed {manifest['model']} version {manifest['version']} (run {manifest['run_id']}) to {dst}")


if __name__ == "__main__":
    main()
