"""MLflow compatibility: the REST surface the stock MLflow client calls, as a translation layer.

``MLFLOW_TRACKING_URI=http://tether:5055`` and ``MLFLOW_TRACKING_TOKEN=tth_...`` (sent as a bearer
token) make an unchanged MLflow script log into Tether. Every route here translates MLflow's request
into a call of Tether's own services (same tables, permission filters, audit rows and validation) and
the answer back into MLflow's JSON; nothing is stored twice. Errors on these paths are MLflow-shaped
(``errors.MLFLOW_PREFIXES``).

- ``tracking``: experiments, runs, params, metrics, tags, search and metric history
- ``artifacts``: the proxied artifact routes (``mlflow-artifacts:/<experiment>/<run>/artifacts``)
- ``logged_models``: MLflow 3's logged models, kept as a folder of their run's artifacts
- ``inputs``: dataset inputs (``runs/log-inputs``) as Tether dataset versions and run inputs
- ``registry``: registered models and aliases; ``model_versions``: versions and the governed
  ``transition-stage``
"""

from __future__ import annotations

from flask import Blueprint, Flask

from ...urlrules import Routes, add_routes

PREFIX = "/api/2.0/mlflow"
ARTIFACTS_PREFIX = "/api/2.0/mlflow-artifacts/artifacts"

#: Every route of the layer, by module: (rule, view function, methods). The modules load on the
#: first request to one of their routes (``urlrules.LazyView``); the blueprint of module ``m`` is
#: ``mlflow_<m>``, so endpoints read ``mlflow_tracking.create_run``.
ROUTES: dict[str, Routes] = {
    "tracking": (
        ("/experiments/get-by-name", "experiment_by_name", ("GET",)),
        ("/experiments/get", "experiment_get", ("GET",)),
        ("/experiments/create", "experiment_create", ("POST",)),
        ("/experiments/search", "experiment_search", ("POST", "GET")),
        ("/experiments/delete", "experiment_delete", ("POST",)),
        ("/experiments/restore", "experiment_restore", ("POST",)),
        ("/experiments/update", "experiment_update", ("POST",)),
        ("/experiments/set-experiment-tag", "experiment_set_tag", ("POST",)),
        ("/runs/create", "run_create", ("POST",)),
        ("/runs/get", "run_get", ("GET",)),
        ("/runs/update", "run_update", ("POST",)),
        ("/runs/delete", "run_delete", ("POST",)),
        ("/runs/restore", "run_restore", ("POST",)),
        ("/runs/log-parameter", "run_log_param", ("POST",)),
        ("/runs/set-tag", "run_set_tag", ("POST",)),
        ("/runs/delete-tag", "run_delete_tag", ("POST",)),
        ("/runs/log-metric", "run_log_metric", ("POST",)),
        ("/runs/log-batch", "run_log_batch", ("POST",)),
        ("/runs/search", "run_search", ("POST",)),
        ("/metrics/get-history", "metric_history", ("GET",)),
    ),
    "registry": (
        ("/registered-models/create", "model_create", ("POST",)),
        ("/registered-models/get", "model_get", ("GET",)),
        ("/registered-models/update", "model_update", ("PATCH", "POST")),
        ("/registered-models/delete", "model_delete", ("DELETE",)),
        ("/registered-models/set-tag", "model_set_tag", ("POST",)),
        ("/registered-models/search", "model_search", ("GET", "POST")),
        ("/registered-models/get-latest-versions", "latest_versions", ("POST", "GET")),
        ("/registered-models/alias", "alias_set", ("POST",)),
        ("/registered-models/alias", "alias_delete", ("DELETE",)),
        ("/registered-models/alias", "alias_get", ("GET",)),
    ),
    "model_versions": (
        ("/model-versions/create", "version_create", ("POST",)),
        ("/model-versions/get", "version_get", ("GET",)),
        ("/model-versions/update", "version_update", ("PATCH", "POST")),
        ("/model-versions/delete", "version_delete", ("DELETE",)),
        ("/model-versions/search", "version_search", ("GET", "POST")),
        ("/model-versions/get-download-uri", "version_download_uri", ("GET",)),
        ("/model-versions/transition-stage", "version_transition", ("POST",)),
        ("/model-versions/set-tag", "version_set_tag", ("POST",)),
        ("/model-versions/delete-tag", "version_delete_tag", ("DELETE",)),
    ),
    "logged_models": (
        ("/logged-models", "create", ("POST",)),
        ("/logged-models/<model_id>", "get", ("GET",)),
        ("/logged-models/<model_id>", "finalize", ("PATCH",)),
        ("/logged-models/<model_id>/tags", "set_tags", ("PATCH",)),
        ("/logged-models/search", "search", ("POST",)),
        ("/runs/outputs", "log_outputs", ("POST",)),
        ("/runs/log-model", "log_model_history", ("POST",)),
    ),
    "inputs": (("/runs/log-inputs", "log_inputs", ("POST",)),),
    "artifacts": (
        ("/<path:path>", "upload", ("PUT",)),
        ("/<path:path>", "download", ("GET",)),
        ("", "list_", ("GET",)),
    ),
}


def register(app: Flask) -> None:
    for module, routes in ROUTES.items():
        bp = add_routes(Blueprint(f"mlflow_{module}", __name__), f"{__name__}.{module}", routes)
        app.register_blueprint(bp, url_prefix=ARTIFACTS_PREFIX if module == "artifacts" else PREFIX)
