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

from flask import Flask

PREFIX = "/api/2.0/mlflow"
ARTIFACTS_PREFIX = "/api/2.0/mlflow-artifacts/artifacts"


def register(app: Flask) -> None:
    from . import artifacts, inputs, logged_models, model_versions, registry, tracking

    app.register_blueprint(tracking.bp, url_prefix=PREFIX)
    app.register_blueprint(registry.bp, url_prefix=PREFIX)
    app.register_blueprint(model_versions.bp, url_prefix=PREFIX)
    app.register_blueprint(logged_models.bp, url_prefix=PREFIX)
    app.register_blueprint(inputs.bp, url_prefix=PREFIX)
    app.register_blueprint(artifacts.bp, url_prefix=ARTIFACTS_PREFIX)
