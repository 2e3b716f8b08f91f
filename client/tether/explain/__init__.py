"""Explanation helpers: compute global importances, write the local-explanation sample.

Everything here is optional: ``permutation_importance`` needs scikit-learn, ``shap_summary`` needs
shap, ``write_local_sample`` needs pyarrow (``pip install 'tether[explain]'``). They are imported
only when called, so ``import tether`` never loads them. Send the result with
``run.log_explanation(imp, method="permutation")`` or ``client.models.set_explanation(...)``.
"""

from __future__ import annotations

from ._helpers import permutation_importance, shap_summary
from ._local import LOCAL_SAMPLE_MAX_ROWS, write_local_sample

__all__ = ["LOCAL_SAMPLE_MAX_ROWS", "permutation_importance", "shap_summary", "write_local_sample"]
