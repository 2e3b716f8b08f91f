"""Tracking: experiments, runs, params, metrics and tags, search, idempotent batches."""

from . import experiments, idempotency, metrics, runs, search

__all__ = ["experiments", "idempotency", "metrics", "runs", "search"]
