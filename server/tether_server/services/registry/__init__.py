"""Registry: registered models, versions, stages and aliases (``catalog``), reviewed stage
transitions (``transitions``), deployment reads (``deploy``) and lineage (``lineage``)."""

from . import catalog, deploy, lineage, transitions

__all__ = ["catalog", "deploy", "lineage", "transitions"]
