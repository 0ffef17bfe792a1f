"""Helpers of the tracing tests (importable; fixtures live in conftest.py)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from glowops.settings import Settings
from glowops.telemetry.tracing import TracingSetup


@dataclass
class Traced:
    app: FastAPI
    setup: TracingSetup
    settings: Settings
    log_stream: io.StringIO

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False, client=("10.1.2.3", 5555))
        return httpx.AsyncClient(transport=transport, base_url="http://api.example.test:8080")

    def flush(self) -> None:
        assert self.setup.processor.force_flush(5000)

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_stream.getvalue().splitlines()]
