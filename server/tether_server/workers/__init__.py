"""Background workers: work that runs outside requests and owns its database sessions.

One pattern for all of them (webhook delivery, the monitoring evaluator):

- A worker is a class with ``name``, ``enabled(settings)``, ``run_once()``, ``start()``/``stop()`` and
  ``wake()`` (``base.Worker``); most subclass ``base.PollingWorker`` and write only ``run_once`` and
  ``poll_seconds``. To add one, write the class and append it to ``WORKERS`` below.
- ``create_app`` builds every enabled worker into the app's runtime (``Runtime.workers``) and starts it;
  ``Runtime.close()`` stops them (tests, app teardown, and interpreter exit via ``atexit``, which is
  how a gunicorn worker ends on SIGTERM). A CLI command may instead run ``run_once()`` a single time
  (``tether webhooks deliver``). Never start a worker from a request hook. Build the app after
  forking (gunicorn without ``--preload``, as ``tether server`` runs it): threads do not survive fork.
- A worker owns its units of work: ``runtime.database.transaction()`` for each short step, never the
  request's session, and never a transaction held open across network calls or slow work.

Claiming work when several processes run the same worker (every gunicorn process runs one, plus
perhaps a cron'd CLI pass): never an in-memory flag. In a short write transaction, select the due rows
``FOR UPDATE SKIP LOCKED`` (PostgreSQL: concurrent workers skip each other's rows instead of waiting;
SQLite ignores the clause but its write transaction is the single writer, so claims are serialised),
mark them leased (e.g. ``next_attempt_at = now + lease``) and commit. Then do the slow part outside any
transaction and record the outcome in another short transaction. A worker that dies mid-task leaves a
lease that expires, so the row is claimed again: work is at-least-once, and receivers deduplicate by
id (webhooks send ``X-Tether-Delivery``). See ``services.events.webhooks.claim_due``.
"""

from __future__ import annotations

from .abtests import ABTestEvaluator
from .base import PollingWorker, Worker, WorkerSet
from .monitoring import MonitorEvaluatorWorker
from .webhooks import WebhookDeliveryWorker

#: Every background worker class; ``Runtime`` builds the enabled ones for each app.
WORKERS: tuple[type[Worker], ...] = (WebhookDeliveryWorker, MonitorEvaluatorWorker, ABTestEvaluator)

__all__ = [
    "WORKERS",
    "ABTestEvaluator",
    "MonitorEvaluatorWorker",
    "PollingWorker",
    "WebhookDeliveryWorker",
    "Worker",
    "WorkerSet",
]
