"""The alerting sampler reads glowops' own RED metrics directly: same samples as ``registry.collect()``.

The reference is what a scrape sees: every non-``_created`` sample of ``registry.collect()``
with the target labels added, exactly as the sampler did before it had sample sources.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
from prometheus_client.exposition import generate_latest

from glowops.alerting.sampler import Sampler
from glowops.packs import register_pack
from glowops.promql import NAME, TSDB, Labels, labels_of
from glowops.telemetry.metrics import Metrics
from glowops.telemetry.red import RedCollector
from glowops.telemetry.sample_source import collect_without_sources, sources_of
from glowops_prismaglow import pack as prismaglow_pack

TARGET = {"job": "glowops-gateway", "instance": "gw:8000"}
ODD_ROUTES = ['/a "quoted"/{id}', "/back\\slash", "/new\nline", "/ünï/€", "/comma,brace}=", ""]


def reference(registry: CollectorRegistry) -> dict[Labels, float]:
    out: dict[Labels, float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name.endswith("_created"):
                continue
            labels = labels_of({**TARGET, **sample.labels, NAME: sample.name})
            assert labels not in out
            out[labels] = float(sample.value)
    return out


def sampled(registry: CollectorRegistry) -> dict[Labels, float]:
    samples = Sampler(registry, TSDB(), TARGET).collect()
    out = dict(samples)
    assert len(out) == len(samples), "a series was sampled twice"
    return out


def busy(registry: CollectorRegistry) -> Metrics:
    register_pack(prismaglow_pack)  # two of the series below are the pack's
    m = Metrics(registry, label_limit=100)
    for i, route in enumerate(ODD_ROUTES):
        for method in ("GET", "POST"):
            for value in (0.003, 0.2 * i, 7.5, 1e6):  # first bucket, middle, last finite, +Inf only
                m.histogram("http_request_duration_seconds", value, tags={"method": method, "route": route})
            m.counter("http_requests", 3, tags={"method": method, "route": route, "status": "500"})
    m.metric("http_requests_in_flight").inc(2)
    m.metric("glowops_log_events").labels("warning").inc()
    m.metric("glowops_log_events").labels("error").inc(2.5)  # the non-unit path
    m.counter("http_rate_limited", tags={"route": ODD_ROUTES[0]})
    m.gauge("approvals_overdue", 4, tags={"org_id": 'org "x"\n'})
    # every other kind, registered outside the facade (summary, info, enum; a label named
    # like a target label overrides it on both paths)
    Summary("glowops_test_summary", "s", ["k"], registry=registry).labels("v").observe(1.5)
    Info("glowops_test_build", "i", registry=registry).info({"version": "1.2.3", "odd": 'a"b\\c'})
    Enum("glowops_test_state", "e", states=["up", "down"], registry=registry).state("down")
    Gauge("glowops_test_instance", "g", ["instance"], registry=registry).labels("other:1").set(-0.5)
    Counter("glowops_test_plain", "c", registry=registry).inc(1e-9)
    Histogram("glowops_test_hist", "h", buckets=(0.1, 1.0), registry=registry).observe(0.5)
    return m


def test_red_metrics_are_a_sample_source() -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    (source,) = sources_of(registry)
    assert isinstance(source, RedCollector)
    assert sources_of(CollectorRegistry()) == []


def test_sampler_gives_the_samples_of_collect() -> None:
    registry = CollectorRegistry()
    busy(registry)
    expected = reference(registry)
    got = sampled(registry)
    assert got == expected
    # spot checks a user would make in PromQL terms
    bucket = labels_of(
        {
            **TARGET,
            NAME: "http_request_duration_seconds_bucket",
            "method": "GET",
            "route": '/a "quoted"/{id}',
            "le": "+Inf",
        }
    )
    count = labels_of(
        {**TARGET, NAME: "http_request_duration_seconds_count", "method": "GET", "route": '/a "quoted"/{id}'}
    )
    assert got[bucket] == got[count] == 4.0
    # the empty route is an absent label, as Prometheus treats ""
    assert labels_of({**TARGET, NAME: "http_requests_total", "method": "POST", "status": "500"}) in got
    assert got[labels_of({**TARGET, NAME: "glowops_log_events_total", "level": "error"})] == 2.5
    assert got[labels_of({**TARGET, NAME: "glowops_test_instance", "instance": "other:1"})] == -0.5


def test_values_follow_updates_and_new_children() -> None:
    registry = CollectorRegistry()
    m = busy(registry)
    sampler = Sampler(registry, TSDB(), TARGET)
    sampler.collect()  # caches built
    m.histogram("http_request_duration_seconds", 0.01, tags={"method": "GET", "route": "/later"})
    m.histogram("http_request_duration_seconds", 0.3, tags={"method": "GET", "route": ODD_ROUTES[1]})
    m.counter("http_requests", tags={"method": "GET", "route": ODD_ROUTES[1], "status": "500"})
    assert dict(sampler.collect()) == reference(registry)


def test_exposition_unchanged_and_other_threads_unaffected() -> None:
    """While the sampler collects the rest of the registry, a /metrics scrape from another
    thread still gets the RED metrics (the skip is local to the sampler's thread)."""
    registry = CollectorRegistry()
    busy(registry)
    before = generate_latest(registry)
    seen: list[bytes] = []

    class ScrapeMeanwhile:
        def collect(self):  # type: ignore[no-untyped-def]
            if threading.current_thread() is not threading.main_thread():
                return iter(())  # the scrape of the other thread itself
            thread = threading.Thread(target=lambda: seen.append(generate_latest(registry)))
            thread.start()
            thread.join()
            return iter(())

    registry.register(ScrapeMeanwhile())  # type: ignore[arg-type]
    families = collect_without_sources(registry)
    assert "http_request_duration_seconds" not in {f.name for f in families}
    assert "glowops_test_summary" in {f.name for f in families}
    assert seen and seen[0] == before
    line = b'http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/a \\"quoted\\"/{id}"} 4.0'
    assert line in before
    assert generate_latest(registry) == before  # nothing left switched off


MULTIPROCESS = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from prometheus_client import CollectorRegistry
    from glowops.telemetry.red import RedCollector, multiprocess_values
    from glowops.telemetry.sample_source import sources_of
    from test_sample_source import busy, reference, sampled

    assert multiprocess_values()
    registry = CollectorRegistry()
    busy(registry)
    assert sources_of(registry) == []
    expected = reference(registry)
    assert any(k[0] == ("__name__", "http_request_duration_seconds_bucket") or
               ("__name__", "http_request_duration_seconds_bucket") in k for k in expected)
    assert sampled(registry) == expected, "sampler differs from collect() in multiprocess mode"
    print("ok", len(expected))
""")


def test_multiprocess_mode_reads_collect(tmp_path: Path) -> None:
    """Under PROMETHEUS_MULTIPROC_DIR the RED metrics are prometheus-client's: no source, same samples."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS, str(Path(__file__).parent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")
