"""The durable outbox: idempotent storage, backoff, dead letters, and delivery after a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from embedded_helpers import Harness, receiver_settings
from receivers import http_receiver

from glowops.alerting.outbox import Outbox, RetryPolicy, connect, next_delay

pytestmark = pytest.mark.anyio


def make(tmp_path: Path, **policy: float) -> Outbox:
    return Outbox(connect(tmp_path / "a.db"), RetryPolicy(**policy))


def test_a_message_is_stored_once_per_idempotency_key(tmp_path: Path) -> None:
    box = make(tmp_path)
    assert box.enqueue("slack", {"x": 1}, "k1", 100.0)
    assert not box.enqueue("slack", {"x": 2}, "k1", 101.0)
    (message,) = box.due(100.0)
    assert message.payload == {"x": 1} and box.depth() == 1
    box.mark_sent(message, 100.5)
    assert box.depth() == 0 and box.due(1e9) == []


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(base=2, cap=60)
    assert [next_delay(n, policy, rng=lambda: 1.0) for n in (1, 2, 3, 4, 10)] == [2, 4, 8, 16, 60]
    assert next_delay(3, policy, rng=lambda: 0.0) == 4  # jitter: between half and the full step


def test_retry_honours_retry_after_and_gives_up_after_max_age(tmp_path: Path) -> None:
    box = make(tmp_path, base=1, cap=10, max_age=3600)
    box.enqueue("slack", {}, "k", 0.0)
    (m,) = box.due(0.0)
    assert box.mark_retry(m, 0.0, "HTTP 429", retry_after=300)
    assert box.due(299.0) == [] and len(box.due(300.0)) == 1
    (m,) = box.due(300.0)
    assert not box.mark_retry(m, 3600.0, "HTTP 503")  # an hour old: dead letter
    (dead,) = box.messages("dead")
    assert "gave up after 2 attempts" in (dead.last_error or "")
    assert box.requeue(dead.id, 4000.0) and box.depth() == 1


def test_the_state_file_is_shared_with_a_second_connection(tmp_path: Path) -> None:
    writer = make(tmp_path)
    writer.enqueue("email", {"a": 1}, "k", 1.0)
    reader = make(tmp_path)  # what the CLI does while the service runs
    assert reader.depth() == 1


async def test_notifications_queued_at_a_crash_are_delivered_after_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with http_receiver() as rx:
        rx.hold = threading.Event()  # the first delivery hangs: the child is killed mid-delivery
        child = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "crash_child.py"), str(data_dir), rx.url],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        try:
            assert rx.arrived.wait(60), "the child never tried to deliver"
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
        assert child.returncode == -signal.SIGKILL
        before = {r.headers["Idempotency-Key"] for r in rx.attempts}
        rx.hold.set()
        rx.hold = None

        h = Harness(receiver_settings(data_dir, rx.url))
        h.clock.now += 10 * 60  # the restart happens after the crash
        h.metrics.gauge("glowops_disk_used_ratio", 0.95)  # still full: no resolve yet
        assert h.service.outbox.depth() == 4  # stored before sending: nothing was lost
        await h.run(15)
        delivered = [r.headers["Idempotency-Key"] for r in rx.requests]
        assert h.service.outbox.depth() == 0
        # the request the receiver saw before the crash comes again with the same key
        assert before <= set(delivered)
        assert len(set(delivered)) == 4
        await h.close()
