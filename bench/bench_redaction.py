"""Cost of the redaction policy: µs per log event and free-text scan speed.

- clean event: a typical access-log event (13 fields; timestamp, request ID and path differ on
  every event, the rest repeat as they do in a real service). Target ≤ 5 µs.
- event with one secret: the same event with a bearer token in one field.
- free text: MB/s over realistic mixed log text (access lines, SQL, tracebacks, JSON bodies,
  with an e-mail, a card, a token... every few lines). Target ≥ 20 MB/s.

Run: ``python -m bench.bench_redaction`` (or ``python bench/bench_redaction.py``);
``--quick`` for a shorter run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``glowops`` importable from src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from glowops.redaction import RedactionPolicy

EVENT_TARGET_US = 5.0
TEXT_TARGET_MBS = 20.0


def access_events(count: int, secret: bool = False) -> list[dict[str, Any]]:
    """Access-log events as the JSON pipeline sees them (unique timestamp, request ID, path)."""
    rng = random.Random(7)
    events = []
    for i in range(count):
        event: dict[str, Any] = {
            "timestamp": f"2025-11-02T10:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1_000_000:06d}Z",
            "level": "info",
            "event": "request",
            "logger": "glowops.access",
            "service": "gateway",
            "environment": "production",
            "version": "1.4.2",
            "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "user_id": f"u_{rng.randrange(500)}",
            "org_id": f"org_{rng.randrange(20)}",
            "method": "GET",
            "route": "/api/v1/documents/{doc_id}",
            "path": f"/api/v1/documents/{rng.randrange(100_000)}",
            "status": 200,
            "duration_ms": round(rng.uniform(1, 200), 3),
            "bytes": rng.randrange(100, 9000),
        }
        if secret:
            event["note"] = f"retry with Bearer tok{rng.getrandbits(64):x}abc"
        events.append(event)
    return events


_LINES = [
    '127.0.0.1 - - [02/Nov/2025:10:00:{s:02d} +0000] "GET /api/v1/documents/{n}?page=2&size=50 HTTP/1.1" '
    "200 {b}",
    "2025-11-02 10:00:{s:02d},{n:03d} INFO sqlalchemy.engine SELECT documents.id, documents.title "
    "FROM documents "
    "WHERE documents.org_id = $1::UUID LIMIT $2::INTEGER",
    '{{"event": "document_processed", "document_id": "{u}", "stage": "extract", "duration_ms": {b}.5, '
    '"pages": {s}, "status": "ok"}}',
    '  File "/app/src/gateway/routes/documents.py", line {n}, in read_document',
    '    raise HTTPException(status_code=404, detail="Document not found")',
    "worker 3 finished job {u} in {b} ms (queue depth {s}, retries 0, version 1.4.{s})",
    "connecting to postgresql://gateway@db.internal:5432/prisma ok, pool size {s}",
    "span {h} parent {h2} trace {u2} sampled=true",
]
_SECRETS = [
    "reset link sent to jane.doe{n}@example.com",
    "payment failed for card 4111 1111 1111 1111 (declined)",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1XzEyMyJ9.c2lnbmF0dXJl{n}",
    "callback https://api.example.com/hook?token=tk{n}abcdef&user=42",
    "customer phone +44 20 7946 0958, ssn 123-45-6789",
]


def mixed_text(size: int) -> str:
    """About ``size`` characters of log text; one line in 25 carries a secret."""
    rng = random.Random(11)
    out: list[str] = []
    total = 0
    i = 0
    while total < size:
        i += 1
        template = rng.choice(_SECRETS) if i % 25 == 0 else rng.choice(_LINES)
        line = template.format(
            s=rng.randrange(60),
            n=rng.randrange(1000),
            b=rng.randrange(100, 9000),
            u=uuid.UUID(int=rng.getrandbits(128)),
            u2=f"{rng.getrandbits(128):032x}",
            h=f"{rng.getrandbits(64):016x}",
            h2=f"{rng.getrandbits(64):016x}",
        )
        out.append(line)
        total += len(line) + 1
    return "\n".join(out)


def _median_us_per_item(fn: Callable[[Any], Any], items: list[Any], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for item in items:
            fn(item)
        timings.append((time.perf_counter() - start) / len(items) * 1e6)
    return statistics.median(timings)


def run(quick: bool = False) -> dict[str, float]:
    """Measure; returns the figures (µs per event, MB/s)."""
    count = 5_000 if quick else 20_000
    rounds = 3 if quick else 7
    policy = RedactionPolicy()
    clean = access_events(count)
    dirty = access_events(count, secret=True)
    for event in clean[:1000]:  # warm the key and clean-string caches, as a running service has
        policy.redact_event(event)
    clean_us = _median_us_per_item(policy.redact_event, clean, rounds)
    secret_us = _median_us_per_item(policy.redact_event, dirty, rounds)
    text = mixed_text(1_000_000 if quick else 4_000_000)
    chunks = [text[i : i + 200_000] for i in range(0, len(text), 200_000)]
    start = time.perf_counter()
    for chunk in chunks:
        policy.redact_text(chunk)
    text_mbs = len(text.encode()) / (time.perf_counter() - start) / 1e6
    lines = text.splitlines()
    line_us = _median_us_per_item(policy.redact_text, lines[:20_000], max(1, rounds // 2))
    line_mbs = sum(len(x) + 1 for x in lines[:20_000]) / (line_us * len(lines[:20_000]))
    return {
        "clean_event_us": clean_us,
        "secret_event_us": secret_us,
        "text_mb_s": text_mbs,
        "line_us": line_us,
        "line_mb_s": line_mbs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and a smaller text")
    args = parser.parse_args(argv)
    figures = run(quick=args.quick)
    rows = [
        (
            "clean access-log event",
            f"{figures['clean_event_us']:.2f} µs",
            f"≤ {EVENT_TARGET_US:g} µs",
            figures["clean_event_us"] <= EVENT_TARGET_US,
        ),
        ("event with one secret", f"{figures['secret_event_us']:.2f} µs", "-", True),
        (
            "free text, 200 KB blocks",
            f"{figures['text_mb_s']:.1f} MB/s",
            f"≥ {TEXT_TARGET_MBS:g} MB/s",
            figures["text_mb_s"] >= TEXT_TARGET_MBS,
        ),
        (
            "free text, line by line",
            f"{figures['line_mb_s']:.1f} MB/s ({figures['line_us']:.2f} µs/line)",
            "-",
            True,
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':<28}  {'target':<12}  ok")
    for name, result, target, ok in rows:
        print(f"{name:<{width}}  {result:<28}  {target:<12}  {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main(sys.argv[1:])
