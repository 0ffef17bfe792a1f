"""Several worker processes (PROMETHEUS_MULTIPROC_DIR): one scrape aggregates them all."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

WORKER = textwrap.dedent("""
    import asyncio, io, sys
    from fastapi import FastAPI
    import glowops
    from glowops.settings import Settings

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        glowops.metrics.counter("documents.uploaded", tags={"org_id": "org-mp"})
        return {"item_id": item_id}

    glowops.instrument(app, Settings(), log_stream=io.StringIO(), tracer=False, error_reporter=False,
                       health=False, packs=["prismaglow"])  # by name: the installed entry point

    async def main(n: int) -> None:
        scope = {"type": "http", "method": "GET", "path": "/items/1", "raw_path": b"/items/1",
                 "root_path": "", "query_string": b"", "headers": [], "scheme": "http",
                 "server": ("t", 80), "client": ("127.0.0.1", 1), "asgi": {"version": "3.0"},
                 "http_version": "1.1"}
        async def receive():
            return {"type": "http.request", "body": b""}
        async def send(message):
            pass
        for _ in range(n):
            await app(dict(scope), receive, send)

    asyncio.run(main(int(sys.argv[1])))
""")


def test_two_workers_aggregate(tmp_path: Path) -> None:
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(n)], env=env) for n in (7, 5)]
    assert [w.wait(timeout=60) for w in workers] == [0, 0]
    assert len(list(multiproc.glob("counter_*.db"))) == 2  # one file per worker pid

    # a third process (the one Prometheus scrapes) sees the sum of both
    scrape = textwrap.dedent("""
        from glowops.settings import Settings
        from glowops.telemetry.exposition import MetricsEndpoint
        body, _ = MetricsEndpoint(Settings()).collect("")
        print(body.decode())
    """)
    out = subprocess.run(
        [sys.executable, "-c", scrape], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert 'http_requests_total{method="GET",route="/items/{item_id}",status="200"} 12.0' in out
    assert 'http_request_duration_seconds_count{method="GET",route="/items/{item_id}"} 12.0' in out
    assert 'documents_uploaded_total{org_id="org-mp"} 12.0' in out
