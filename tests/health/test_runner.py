"""The runner's timing rules, the registry, the built-in disk check and error classification."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError

from glowops.health import CheckFailed, HealthCheck, HealthRegistry, HealthRunner, Status, health_check
from glowops.health.checks import DiskCheck, PostgresCheck
from glowops.health.errors import classify
from glowops.redaction import RedactionPolicy

REDACT = RedactionPolicy().redact_text

pytestmark = pytest.mark.anyio


class FakeClock:
    """The runner's cache clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_single_flight_one_run_for_a_burst_and_a_shorter_ttl_for_failures() -> None:
    calls = {"ok": 0, "bad": 0}
    registry = HealthRegistry()

    @registry.check("ok")
    async def ok() -> None:
        calls["ok"] += 1
        await asyncio.sleep(0.05)

    @registry.check("bad", critical=False)
    async def bad() -> None:
        calls["bad"] += 1
        await asyncio.sleep(0.05)
        raise CheckFailed("broken")

    clock = FakeClock()
    runner = HealthRunner(registry, ttl=10.0, failure_ttl=0.2, clock=clock, redact=REDACT)
    reports = await asyncio.gather(*(runner.run() for _ in range(200)))
    assert calls == {"ok": 1, "bad": 1}
    assert {r.status for r in reports} == {Status.WARN}
    clock.now += 0.25  # the failure expired, the success did not
    report = await runner.run()
    assert calls == {"ok": 1, "bad": 2}
    ok_result = report.get("ok")
    assert ok_result is not None and ok_result.cached
    await runner.aclose()


async def test_a_timed_out_check_does_not_cancel_or_slow_its_siblings() -> None:
    finished = []
    registry = HealthRegistry()

    @registry.check("slow", timeout=0.1)
    async def slow() -> None:
        await asyncio.Event().wait()  # never answers: a runner that waited for it would hang

    @registry.check("steady", timeout=30.0)
    async def steady() -> None:
        await asyncio.sleep(0.3)  # outlives the slow check's timeout
        finished.append(True)

    runner = HealthRunner(registry, ttl=0, failure_ttl=0, deadline=60.0, redact=REDACT)
    async with asyncio.timeout(60):  # the failure mode is a hang: end it with a clear error
        report = await runner.run()
    slow_result, steady_result = report.get("slow"), report.get("steady")
    assert slow_result is not None and slow_result.output == "timeout"
    assert steady_result is not None and steady_result.status is Status.PASS
    assert finished == [True]
    assert report.status is Status.FAIL
    await runner.aclose()


async def test_the_deadline_bounds_the_answer_and_the_run_still_fills_the_cache() -> None:
    registry = HealthRegistry()
    release = asyncio.Event()

    @registry.check("late", timeout=60.0)
    async def late() -> None:
        await release.wait()  # answers only after the first report was given

    runner = HealthRunner(registry, ttl=600, deadline=0.1, redact=REDACT)
    async with asyncio.timeout(60):
        first = await runner.run()
    late_result = first.get("late")
    assert late_result is not None and late_result.output == "timeout"
    release.set()
    async with asyncio.timeout(60):  # the check goes on in the background and fills the cache
        while (await runner.run()).get("late").output == "timeout":  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
    second = await runner.run()
    late_result = second.get("late")
    assert late_result is not None and late_result.status is Status.PASS and late_result.cached
    await runner.aclose()


async def test_sync_checks_run_off_the_event_loop_in_the_health_pool() -> None:
    seen: list[str] = []
    registry = HealthRegistry()

    gate = threading.Event()

    @registry.check("blocking", timeout=120.0)
    def blocking() -> None:
        seen.append(threading.current_thread().name)
        gate.wait(60)  # released by the event loop: only possible if the check is off the loop

    runner = HealthRunner(registry, ttl=0, failure_ttl=0, deadline=120.0, redact=REDACT)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1
            if ticks >= 3:
                gate.set()

    task = asyncio.create_task(ticker())
    await runner.run()
    task.cancel()
    assert seen and seen[0].startswith("glowops-health")
    assert gate.is_set()  # the loop kept running while the check blocked
    await runner.aclose()


async def test_hung_sync_checks_never_pile_up_threads() -> None:
    release = threading.Event()
    runs = []
    registry = HealthRegistry()

    @registry.check("hung", timeout=0.05)
    def hung() -> None:
        runs.append(1)
        release.wait(120)

    runner = HealthRunner(registry, ttl=0, failure_ttl=0, redact=REDACT)
    threads_before = threading.active_count()
    for _ in range(30):
        result = (await runner.run()).get("hung")
        assert result is not None and result.output == "timeout"
    assert runs == [1]  # later probes waited on the stuck thread instead of starting new ones
    assert runner.threads_in_use == 1
    assert threading.active_count() <= threads_before + 1
    release.set()
    async with asyncio.timeout(60):  # the stuck thread returns its slot once released
        while runner.threads_in_use:
            await asyncio.sleep(0.01)
    result = (await runner.run()).get("hung")
    assert result is not None and result.status is Status.PASS
    assert len(runs) == 2
    await runner.aclose()


async def test_disk_check_warns_fails_and_sets_the_gauge(tmp_path: Path) -> None:
    warn = DiskCheck(tmp_path / "not-yet" / "created", warn_percent=0.001, fail_percent=100)
    fail = DiskCheck(tmp_path, warn_percent=0.001, fail_percent=0.001)
    fine = DiskCheck(tmp_path, warn_percent=100, fail_percent=100)
    results = {}
    for check, label in ((warn, "warn"), (fail, "fail"), (fine, "fine")):
        runner = HealthRunner(HealthRegistry([check]), redact=REDACT)
        results[label] = (await runner.run()).get("disk")
        await runner.aclose()
    assert results["warn"] is not None and results["warn"].status is Status.WARN
    assert results["warn"].output == "storage almost full"
    assert results["fail"] is not None and results["fail"].status is Status.FAIL
    assert results["fail"].output == "storage full" and not results["fail"].critical
    assert results["fine"] is not None and results["fine"].status is Status.PASS
    assert results["fine"].observed_unit == "percent"
    ratio = REGISTRY.get_sample_value("glowops_disk_used_ratio")
    assert ratio is not None and 0 < ratio < 1
    assert ratio * 100 == pytest.approx(float(results["fine"].observed_value or 0), abs=0.5)
    with pytest.raises(ValueError, match="above the fail line"):
        DiskCheck(tmp_path, warn_percent=95, fail_percent=90)


async def test_check_metrics_follow_the_outcome() -> None:
    state = {"up": False}
    registry = HealthRegistry()

    @registry.check("flappy")
    async def flappy() -> bool:
        return state["up"]

    runner = HealthRunner(registry, ttl=0, failure_ttl=0, redact=REDACT)
    count_name = "glowops_health_check_duration_seconds_count"
    before = REGISTRY.get_sample_value(count_name, {"check": "flappy"}) or 0
    await runner.run()
    assert REGISTRY.get_sample_value("glowops_health_check_up", {"check": "flappy", "critical": "true"}) == 0
    state["up"] = True
    await runner.run()
    assert REGISTRY.get_sample_value("glowops_health_check_up", {"check": "flappy", "critical": "true"}) == 1
    after = REGISTRY.get_sample_value(count_name, {"check": "flappy"})
    assert after == before + 2
    await runner.aclose()


def test_registry_refuses_duplicates_and_bad_names() -> None:
    registry = HealthRegistry()

    @health_check
    def ledger() -> None:
        return None

    registry.add(ledger)
    with pytest.raises(ValueError, match="already registered"):
        registry.add(ledger)
    registry.add(ledger, replace=True)
    with pytest.raises(ValueError, match="must match"):
        health_check("Bad Name!")(lambda: None)

    class Nameless(HealthCheck):
        pass

    with pytest.raises(ValueError, match="must match"):
        registry.add(Nameless())


async def test_a_check_returning_nonsense_fails_with_a_fixed_message() -> None:
    registry = HealthRegistry()

    @registry.check("odd")
    async def odd() -> object:
        return {"password": "hunter2"}

    runner = HealthRunner(registry, ttl=0, failure_ttl=0, redact=REDACT)
    result = (await runner.run()).get("odd")
    assert result is not None and result.status is Status.FAIL and result.output == "check error"
    await runner.aclose()


def _raised(exc: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException:
            raise exc  # noqa: B904 - the implicit __context__ chain is what drivers produce
    except BaseException as err:
        return err


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (socket.gaierror(-2, "Name or service not known for db.internal"), "dns failure"),
        (
            _raised(
                RedisConnectionError("Error 111 connecting to 10.0.0.1:6379."),
                ConnectionRefusedError(111, "Connection refused"),
            ),
            "connection refused",
        ),
        (TimeoutError(), "timeout"),
        (_raised(RuntimeError("wrapper"), ConnectionResetError(104, "reset by peer")), "connection reset"),
        (
            type("InvalidPasswordError", (Exception,), {})("password authentication failed for user app"),
            "authentication failed",
        ),
        (Exception("-WRONGPASS invalid username-password pair"), "authentication failed"),
        (CheckFailed("backup too old", detail="/srv/backups/x"), "backup too old"),
        (ValueError("postgresql://app:hunter2@db/x"), "check error"),
    ],
)
def test_exceptions_become_fixed_messages(exc: BaseException, message: str) -> None:
    assert classify(exc) == message


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+asyncpg://no_such_role@127.0.0.1:5432/postgres", "authentication failed"),
        ("postgresql+asyncpg://postgres@127.0.0.1:5432/no_such_database", "database not found"),
    ],
)
async def test_real_postgres_refusals_get_their_own_message(url: str, message: str) -> None:
    from peers import port_open

    if not port_open(5432):
        from peers import missing_peer

        missing_peer("PostgreSQL on 127.0.0.1:5432")
    runner = HealthRunner(HealthRegistry([PostgresCheck(url, timeout=2.0)]), redact=REDACT)
    result = (await runner.run()).get("database")
    await runner.aclose()
    assert result is not None and result.output == message
