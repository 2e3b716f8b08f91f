"""Make ``import tether`` load the SDK from client/ (a stale editable install may map it as a namespace)."""

from __future__ import annotations

import sys
from pathlib import Path

CLIENT_DIR = str(Path(__file__).resolve().parents[2] / "client")
if CLIENT_DIR not in sys.path:
    sys.path.insert(0, CLIENT_DIR)
    if "tether" in sys.modules and getattr(sys.modules["tether"], "__file__", None) is None:
        del sys.modules["tether"]
