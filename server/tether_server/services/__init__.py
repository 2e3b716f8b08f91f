"""Business rules, grouped by domain. Plain functions taking a Session first; they never import Flask
and never commit (the caller's unit of work does, see ``tether_server.context``).

- ``tracking``: experiments, runs, params, metrics, tags, search, idempotent batches
- ``identity``: users, tokens, roles, grants (permission filters built into SQL), bootstrap
- ``artifacts``: run artifact files, datasets and their versions, garbage collection
- ``registry``: registered models, versions, stages and aliases, reviewed transitions, deployment
  reads, lineage
- ``events``: the append-only audit trail, webhook subscriptions and their outbox, the SSRF guard

Shared helpers used by every domain: ``paging`` (keyset pages), ``validation`` (keys and values),
``rawsql`` (prebuilt statements for hot paths).
"""
