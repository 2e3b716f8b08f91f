"""tether.explain helpers: permutation importance ranks the informative features first."""

from __future__ import annotations

import numpy as np
import pytest


def test_permutation_importance_ranks_the_two_signal_features_first():
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression

    from tether.explain import permutation_importance

    rng = np.random.default_rng(42)
    X = rng.normal(size=(2000, 10))
    logits = 2.5 * X[:, 3] - 2.0 * X[:, 7]  # only features 3 and 7 carry signal
    y = (rng.random(2000) < 1 / (1 + np.exp(-logits))).astype(int)
    names = [f"f{i}" for i in range(10)]
    model = LogisticRegression().fit(X[:1000], y[:1000])
    imp = permutation_importance(model, X[1000:], y[1000:], feature_names=names, n_repeats=5, random_state=0)
    assert list(imp)[:2] == ["f3", "f7"] or list(imp)[:2] == ["f7", "f3"]
    assert min(imp["f3"], imp["f7"]) > 10 * max(abs(v) for k, v in imp.items() if k not in ("f3", "f7"))


def test_helpers_explain_what_is_missing(monkeypatch):
    import builtins

    from tether.explain import permutation_importance, shap_summary

    real = builtins.__import__

    def fake(name, *a, **kw):
        if name.startswith(("sklearn", "shap")):
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match="scikit-learn"):
        permutation_importance(object(), [[1]], [1])
    with pytest.raises(ImportError, match="shap"):
        shap_summary(object(), [[1]])


def test_import_tether_does_not_load_heavy_packages():
    import subprocess
    import sys

    code = "import sys, tether, tether.explain; print(sorted(m for m in ('sklearn', 'shap', 'pyarrow', 'numpy') if m in sys.modules))"
    from pathlib import Path

    client_dir = str(Path(__file__).resolve().parents[2] / "client")
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": client_dir},
    )
    assert out.stdout.strip() == "[]"
