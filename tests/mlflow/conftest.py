"""The stock MLflow client in a virtualenv of its own (``.mlflow-venv`` at the repository root, built
once from ``requirements.txt``; ``scripts/test`` builds it before pytest), and a helper that runs a
small MLflow script in a subprocess against a live Tether server."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("requirements.txt")
VENV = Path(os.environ.get("TETHER_MLFLOW_VENV", ROOT / ".mlflow-venv"))
STAMP = VENV / ".tether-requirements"


def _wanted() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def build_venv() -> Path:
    """The venv's python, (re)built when requirements.txt changed."""
    python = VENV / "bin" / "python"
    if python.exists() and STAMP.exists() and STAMP.read_text().strip() == _wanted():
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        check=True,
    )
    STAMP.write_text(_wanted())
    return python


@pytest.fixture(scope="session")
def mlflow_python() -> Path:
    try:
        return build_venv()
    except (OSError, subprocess.CalledProcessError) as e:
        if os.environ.get("CI"):
            pytest.fail(f"could not build the MLflow client virtualenv: {e}")
        pytest.skip(f"MLflow client virtualenv unavailable: {e}")


def run_mlflow(python: Path, url: str, token: str, script: str, **inputs: Any) -> dict[str, Any]:
    """Run ``script`` with the stock client pointed at ``url`` (token as MLFLOW_TRACKING_TOKEN). The
    script reads ``INPUT`` (a dict) and fills ``OUT``, which comes back as JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TETHER_"))}
    env.update(
        MLFLOW_TRACKING_URI=url,
        MLFLOW_TRACKING_TOKEN=token,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        GIT_PYTHON_REFRESH="quiet",
        PYTHONWARNINGS="ignore",
    )
    prelude = f"import json, sys\nINPUT = json.loads({json.dumps(json.dumps(inputs))})\nOUT = {{}}\n"
    epilogue = "\nsys.stdout.write('\\n@@OUT@@' + json.dumps(OUT))\n"
    proc = subprocess.run(
        [str(python), "-c", prelude + textwrap.dedent(script) + epilogue],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 or "@@OUT@@" not in proc.stdout:
        raise AssertionError(
            f"MLflow script failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return json.loads(proc.stdout.rsplit("@@OUT@@", 1)[1])
