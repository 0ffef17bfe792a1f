"""Helpers of the error-tracking tests (importable; fixtures live in conftest.py)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import httpx
import sentry_sdk
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from glowops.telemetry import errors
from glowops.telemetry.tracing import TracingSetup


@dataclass
class Reporting:
    app: FastAPI
    hook: errors.ErrorReporterHook
    tracing: TracingSetup
    spans: InMemorySpanExporter
    log_stream: io.StringIO

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://api.example.test")

    def flush(self) -> None:
        sentry_sdk.flush(timeout=5)
        self.tracing.processor.force_flush(5000)

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_stream.getvalue().splitlines()]
