"""Artifacts: run artifact files (server-built keys, uploads), datasets and versions, garbage collection."""

from . import datasets, files, gc

__all__ = ["datasets", "files", "gc"]
