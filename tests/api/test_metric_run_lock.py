"""metrics has no foreign key to runs (one RI check per point was a third of a batch's database
time). These tests hold the guarantee the key gave: a run purged for good leaves no points behind,
even when a writer is inside its transaction at that moment, and no points reach a purged run."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from tests.api.helpers import new_experiment, new_run
from tether_server.access import Principal
from tether_server.errors import NotFound
from tether_server.models import Metric
from tether_server.runtime import Runtime
from tether_server.services.tracking import runs as svc


def test_purge_waits_for_a_writer_mid_transaction_and_leaves_no_points(app, client, auth, users):
    db = Runtime.of(app).database
    run_id = new_run(client, auth, new_experiment(client, auth, "lock"))
    admin = Principal(id=0, name="root", role="admin")
    pts = [{"key": "loss", "value": 0.5, "step": i} for i in range(500)]
    with db.session() as s:  # the latest-value row exists, so the next batch only updates it
        svc.log_batch(s, admin, run_id, metrics=pts[:1])
        s.commit()
    writer = db.session()
    svc.log_batch(writer, admin, run_id, metrics=pts)  # points written, transaction still open
    purged = threading.Event()

    def purge() -> None:
        with db.session() as s:
            svc.hard_delete_run(s, run_id)
            s.commit()
        purged.set()

    t = threading.Thread(target=purge)
    t.start()
    time.sleep(0.5)
    assert not purged.is_set()  # blocked behind the writer's lock on the run
    writer.commit()
    writer.close()
    t.join(30)
    assert purged.is_set()
    with db.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Metric).where(Metric.run_id == run_id)) == 0
    with db.session() as s, pytest.raises(NotFound):
        svc.log_batch(s, admin, run_id, metrics=pts)  # a later writer finds no run
