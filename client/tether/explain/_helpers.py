"""Global importances from scikit-learn (permutation) and shap (mean |SHAP value|), imported lazily."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _missing(package: str, extra: str = "explain") -> ImportError:
    return ImportError(f"this helper needs {package}: pip install 'tether[{extra}]' (or {package} itself)")


def _names(X: Any, feature_names: Sequence[str] | None, n: int) -> list[str]:
    if feature_names is not None:
        names = [str(f) for f in feature_names]
    elif hasattr(X, "columns"):
        names = [str(c) for c in X.columns]
    else:
        names = [f"x{i}" for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} feature names for {n} columns")
    if len(set(names)) != n:
        raise ValueError("feature names must be unique")
    return names


def permutation_importance(
    model: Any,
    X: Any,
    y: Any,
    *,
    feature_names: Sequence[str] | None = None,
    scoring: Any = None,
    n_repeats: int = 5,
    random_state: int | None = 0,
    n_jobs: int | None = None,
) -> dict[str, float]:
    """``{feature: mean drop in score when the feature is shuffled}`` (``sklearn.inspection.
    permutation_importance``), for a fitted estimator on held-out ``X, y``; largest first."""
    try:
        from sklearn.inspection import permutation_importance as _pi
    except ImportError:
        raise _missing("scikit-learn") from None
    result = _pi(model, X, y, scoring=scoring, n_repeats=n_repeats, random_state=random_state, n_jobs=n_jobs)
    names = _names(X, feature_names, len(result.importances_mean))
    pairs = sorted(
        zip(names, (float(v) for v in result.importances_mean), strict=True), key=lambda kv: -abs(kv[1])
    )
    return dict(pairs)


def shap_summary(
    model: Any, X: Any, *, feature_names: Sequence[str] | None = None, max_rows: int | None = 1000
) -> dict[str, float]:
    """``{feature: mean |SHAP value|}`` over ``X`` (``shap.Explainer``); multi-output models are
    averaged over outputs too. ``max_rows`` caps the rows explained (SHAP is slow)."""
    try:
        import numpy as np
        import shap
    except ImportError:
        raise _missing("shap") from None
    data = X[:max_rows] if max_rows is not None else X
    values = np.asarray(shap.Explainer(model, data)(data).values, dtype=float)
    if values.ndim == 3:  # (rows, features, outputs)
        values = np.abs(values).mean(axis=2)
    means = np.abs(values).mean(axis=0)
    names = _names(X, feature_names, len(means))
    return dict(sorted(zip(names, (float(v) for v in means), strict=True), key=lambda kv: -abs(kv[1])))
