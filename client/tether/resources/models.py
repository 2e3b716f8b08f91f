"""``client.models``: the model registry (models, versions, aliases, reviewed stage transitions,
deployment fetch and sha256-verified download).

    v = client.models.register(run_id, "model", "churn")              # ModelVersion
    req = client.models.request_transition("churn", v.version, "Production", comment="auc 0.91")
    reviewer.models.approve(req.id, comment="looks good")             # TransitionRequest
    prod = client.models.get_production("churn")                      # Deployment: files, datasets
    client.models.download("churn", stage="production", dst="./model")
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import AlreadyExistsError, ArtifactError, NotFoundError
from ..explain._body import Importances, explanation_body
from ..types import (
    Deployment,
    Explanation,
    ModelAlias,
    ModelVersion,
    Page,
    RegisteredModel,
    RegistryPolicy,
    TransitionRequest,
)
from ._base import Resource
from ._paging import Paginator
from .runs import quote_segment as _q

__all__ = ["Models"]


class Models(Resource):
    # ---------------------------------------------------------------- models

    def create(
        self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        body = {"name": name, "description": description, "tags": dict(tags) if tags else None}
        return RegisteredModel.from_dict(self._client.request("POST", "/models", json=body))

    def get(self, name: str) -> RegisteredModel:
        return RegisteredModel.from_dict(self._client.request("GET", f"/models/{_q(name)}"))

    def list(
        self, *, name: str | None = None, page_size: int | None = None, limit: int | None = None
    ) -> Paginator[RegisteredModel]:
        """Lazily page through the models the caller can read (``name``: ``*`` is a wildcard)."""

        def fetch(token: str | None) -> Page[RegisteredModel]:
            params = {"name": name, "max_results": page_size, "page_token": token}
            data = self._client.request("GET", "/models", params=params)
            return Page.from_dict(data, RegisteredModel.from_dict)

        return Paginator(fetch, limit=limit)

    def update(self, name: str, *, description: str) -> RegisteredModel:
        body = {"description": description}
        return RegisteredModel.from_dict(self._client.request("PATCH", f"/models/{_q(name)}", json=body))

    def delete(self, name: str) -> None:
        self._client.request("DELETE", f"/models/{_q(name)}")

    # ---------------------------------------------------------------- versions

    def register(
        self,
        run_id: str,
        artifact_path: str,
        name: str,
        *,
        description: str = "",
        metadata: Mapping[str, Any] | None = None,
        create_model: bool = True,
    ) -> ModelVersion:
        """Register the run's artifacts under ``artifact_path`` as the model's next version (the
        server copies the files, so the version is immutable); creates the model if needed."""
        body = {
            "run_id": run_id,
            "artifact_path": artifact_path,
            "description": description,
            "metadata": dict(metadata) if metadata is not None else None,
        }
        path = f"/models/{_q(name)}/versions"
        try:
            return ModelVersion.from_dict(self._client.request("POST", path, json=body))
        except NotFoundError:
            if not create_model:
                raise
            try:
                self.create(name)
            except AlreadyExistsError:
                pass  # someone else created it meanwhile
            return ModelVersion.from_dict(self._client.request("POST", path, json=body))

    def list_versions(
        self,
        name: str,
        *,
        stage: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> Paginator[ModelVersion]:
        def fetch(token: str | None) -> Page[ModelVersion]:
            params = {"stage": stage, "max_results": page_size, "page_token": token}
            data = self._client.request("GET", f"/models/{_q(name)}/versions", params=params)
            return Page.from_dict(data, ModelVersion.from_dict)

        return Paginator(fetch, limit=limit)

    def get_version(self, name: str, version: int) -> Deployment:
        """One version with its datasets and file manifest."""
        data = self._client.request("GET", f"/models/{_q(name)}/versions/{int(version)}")
        return Deployment.from_dict(data)

    def update_version(self, name: str, version: int, *, description: str) -> ModelVersion:
        path = f"/models/{_q(name)}/versions/{int(version)}"
        return ModelVersion.from_dict(self._client.request("PATCH", path, json={"description": description}))

    def delete_version(self, name: str, version: int) -> None:
        self._client.request("DELETE", f"/models/{_q(name)}/versions/{int(version)}")

    # ---------------------------------------------------------------- explanations and model cards

    def get_explanation(self, name: str, version: int) -> Explanation:
        """The version's global explanation (``NotFoundError`` if none was recorded)."""
        path = f"/models/{_q(name)}/versions/{int(version)}/explanation"
        return Explanation.from_dict(self._client.request("GET", path))

    def set_explanation(
        self,
        name: str,
        version: int,
        importances: Importances,
        *,
        method: str,
        dataset: Any = None,
        per_class: Mapping[str, Importances] | None = None,
    ) -> Explanation:
        """Set or replace the version's explanation (refused once it is in Production and has one)."""
        path = f"/models/{_q(name)}/versions/{int(version)}/explanation"
        body = explanation_body(importances, method, dataset, per_class)
        return Explanation.from_dict(self._client.request("PUT", path, json=body))

    def upload_local_explanations(self, name: str, version: int, path: str | os.PathLike[str]) -> Explanation:
        """Attach a local-explanation sample (a Parquet file, see ``tether.explain.write_local_sample``)."""
        data = Path(path).read_bytes()
        url = f"/models/{_q(name)}/versions/{int(version)}/explanation/local"
        out = self._client.request("PUT", url, content=data, content_type="application/vnd.apache.parquet")
        return Explanation.from_dict(out)

    def get_card(self, name: str, version: int, *, format: str = "json") -> Any:
        """The model card: a dict (``format="json"``) or Markdown text (``format="md"``)."""
        path = f"/models/{_q(name)}/versions/{int(version)}/card"
        if format == "md":
            return self._client.request("GET", path, params={"format": "md"}, raw=True).decode("utf-8")
        return self._client.request("GET", path, params={"format": format})

    def set_card(
        self, name: str, version: int, *, intended_use: str | None = None, limitations: str | None = None
    ) -> dict[str, Any]:
        """Write the person-written part of the model card."""
        body = {
            k: v for k, v in (("intended_use", intended_use), ("limitations", limitations)) if v is not None
        }
        return self._client.request("PUT", f"/models/{_q(name)}/versions/{int(version)}/card", json=body)  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- deployment

    def get_stage(self, name: str, stage: str) -> Deployment:
        """The version in ``stage`` (case-insensitive); ``NotFoundError`` when the stage is empty."""
        return Deployment.from_dict(self._client.request("GET", f"/models/{_q(name)}/stages/{_q(stage)}"))

    def get_production(self, name: str) -> Deployment:
        """The Production version in one call: version, run id, datasets, metadata and files."""
        return self.get_stage(name, "production")

    def get_alias(self, name: str, alias: str) -> Deployment:
        return Deployment.from_dict(self._client.request("GET", f"/models/{_q(name)}/aliases/{_q(alias)}"))

    def set_alias(self, name: str, alias: str, version: int) -> ModelAlias:
        path = f"/models/{_q(name)}/aliases/{_q(alias)}"
        return ModelAlias.from_dict(self._client.request("PUT", path, json={"version": int(version)}))

    def delete_alias(self, name: str, alias: str) -> None:
        self._client.request("DELETE", f"/models/{_q(name)}/aliases/{_q(alias)}")

    def download(
        self,
        name: str,
        stage: str | None = "production",
        dst: str | os.PathLike[str] = ".",
        *,
        alias: str | None = None,
        version: int | None = None,
        progress: bool | None = None,
    ) -> Path:
        """Fetch every file of a version (by ``version``, else ``alias``, else ``stage``) into
        ``dst``, verifying size and sha256 (``ChecksumError`` on a mismatch, leaving no file for it);
        returns ``dst``. Transfers resume and retry like artifact downloads."""
        if version is not None:
            info = self.get_version(name, version)
        elif alias is not None:
            info = self.get_alias(name, alias)
        else:
            info = self.get_stage(name, stage or "production")
        root = Path(dst).resolve()
        transfer = self._client.artifacts.transfer(progress)
        for f in info.files:
            target = (root / f.path).resolve()
            if root not in target.parents:
                raise ArtifactError(f"refusing to write outside {root}: {f.path!r}")
            transfer.download_url(f.download_url, target, f.size, f.sha256)
        return root

    # ---------------------------------------------------------------- reviewed transitions

    def request_transition(
        self,
        name: str,
        version: int,
        to_stage: str,
        *,
        comment: str = "",
        archive_existing: bool | None = None,
    ) -> TransitionRequest:
        """Ask for a stage change; approved at once when the policy needs no approval for it."""
        path = f"/models/{_q(name)}/versions/{int(version)}/transition-requests"
        body = {"to_stage": to_stage, "comment": comment, "archive_existing": archive_existing}
        return TransitionRequest.from_dict(self._client.request("POST", path, json=body))

    def get_request(self, transition_id: int) -> TransitionRequest:
        data = self._client.request("GET", f"/transition-requests/{int(transition_id)}")
        return TransitionRequest.from_dict(data)

    def list_requests(
        self,
        *,
        status: str = "pending",
        model: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> Paginator[TransitionRequest]:
        """Lazily page through transition requests whose ``status`` is pending (default),
        approved, rejected or cancelled, optionally of one ``model``."""

        def fetch(token: str | None) -> Page[TransitionRequest]:
            params = {"status": status, "model": model, "max_results": page_size, "page_token": token}
            data = self._client.request("GET", "/transition-requests", params=params)
            return Page.from_dict(data, TransitionRequest.from_dict)

        return Paginator(fetch, limit=limit)

    def approve(self, transition_id: int, *, comment: str = "") -> TransitionRequest:
        """Approve someone else's request (reviewers); the last approval needed moves the stage."""
        return self._decide(transition_id, "approve", comment)

    def reject(self, transition_id: int, *, comment: str = "") -> TransitionRequest:
        return self._decide(transition_id, "reject", comment)

    def cancel(self, transition_id: int, *, comment: str = "") -> TransitionRequest:
        """Withdraw your own pending request."""
        return self._decide(transition_id, "cancel", comment)

    def _decide(self, transition_id: int, verb: str, comment: str) -> TransitionRequest:
        path = f"/transition-requests/{int(transition_id)}/{verb}"
        return TransitionRequest.from_dict(self._client.request("POST", path, json={"comment": comment}))

    # ---------------------------------------------------------------- approval policy

    def get_policy(self, name: str | None = None) -> RegistryPolicy:
        """The effective policy of model ``name``, or the global one (``name=None``)."""
        path = f"/models/{_q(name)}/policy" if name is not None else "/registry/policy"
        return RegistryPolicy.from_dict(self._client.request("GET", path))

    def set_policy(
        self,
        name: str | None = None,
        *,
        required_approvals: Mapping[str, int] | None = None,
        archive_existing_production: bool | None = None,
    ) -> RegistryPolicy:
        """Set approvals per target stage for model ``name`` (MANAGE) or globally (admins)."""
        path = f"/models/{_q(name)}/policy" if name is not None else "/registry/policy"
        body: dict[str, Any] = {"required_approvals": dict(required_approvals or {})}
        if archive_existing_production is not None:
            body["archive_existing_production"] = archive_existing_production
        return RegistryPolicy.from_dict(self._client.request("PUT", path, json=body))
