"""``client.experiments``: create, get, get_by_name, get_or_create, list, update, delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import AlreadyExistsError, NotFoundError
from ..types import Experiment, Page
from ._base import Resource
from ._paging import Paginator


class Experiments(Resource):
    def create(
        self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> Experiment:
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        if tags is not None:
            body["tags"] = {str(k): str(v) for k, v in tags.items()}
        return Experiment.from_dict(self._client.request("POST", "/experiments", json=body))

    def get(self, experiment_id: int) -> Experiment:
        return Experiment.from_dict(self._client.request("GET", f"/experiments/{int(experiment_id)}"))

    def get_by_name(self, name: str) -> Experiment:
        """The active experiment called ``name``; ``NotFoundError`` if there is none."""
        data = self._client.request("GET", "/experiments", params={"name": name, "max_results": 1})
        for item in data.get("items") or []:
            if item.get("name") == name:
                return Experiment.from_dict(item)
        raise NotFoundError(404, "NOT_FOUND", f"Experiment {name!r} not found", {"name": name})

    def get_or_create(
        self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> Experiment:
        """Create ``name``, or return the existing one if another caller got there first."""
        try:
            return self.create(name, description=description, tags=tags)
        except AlreadyExistsError:
            return self.get_by_name(name)

    def list(
        self,
        *,
        name: str | None = None,
        lifecycle: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> Paginator[Experiment]:
        """Lazily page through experiments (``lifecycle``: active (server default), deleted or all)."""

        def fetch(token: str | None) -> Page[Experiment]:
            params = {"name": name, "lifecycle": lifecycle, "max_results": page_size, "page_token": token}
            return Page.from_dict(
                self._client.request("GET", "/experiments", params=params), Experiment.from_dict
            )

        return Paginator(fetch, limit=limit)

    def update(
        self,
        experiment_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        lifecycle: str | None = None,
    ) -> Experiment:
        body: dict[str, Any] = {
            k: v
            for k, v in (("name", name), ("description", description), ("lifecycle", lifecycle))
            if v is not None
        }
        if tags is not None:
            body["tags"] = {str(k): str(v) for k, v in tags.items()}
        return Experiment.from_dict(
            self._client.request("PATCH", f"/experiments/{int(experiment_id)}", json=body)
        )

    def delete(self, experiment_id: int) -> Experiment:
        """Soft-delete (lifecycle becomes ``deleted``); returns the experiment as it is now."""
        return Experiment.from_dict(self._client.request("DELETE", f"/experiments/{int(experiment_id)}"))
