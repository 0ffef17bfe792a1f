"""The console's JSON API: one panel's data, any expression over a range (Prometheus-like).

Answers problem+json on every error (:mod:`glowops.problems`); refusals come from the ops guard
(401, or 429 with ``Retry-After``) unless a console session is open.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from glowops.console.core import ConsoleCore
from glowops.console.queries import DEFAULT_RANGE, QueryError, Window, evaluate_range, panel_data
from glowops.problems import problem_response

_JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json", headers=_JSON_HEADERS)


def _problem(status: int, detail: str) -> Response:
    return problem_response(status, detail, headers={"X-Content-Type-Options": "nosniff"})


NO_SAMPLES = (
    "no in-process samples here: embedded alerting is off, or another worker or replica runs it "
    "(see docs/operations.md)"
)


def _no_samples() -> Response:
    return _problem(503, NO_SAMPLES)


class ConsoleApi(ConsoleCore):
    """JSON handlers (mixed into :class:`glowops.console.app.Console`)."""

    # --- JSON -----------------------------------------------------------------------------------
    def _api_refusal(self, request: Request) -> Response | None:
        decision = self.auth.decide(request)
        if decision.allowed:
            return None
        return self.guard.response(decision, "The console API (or a console session)")

    async def panel_api(self, request: Request) -> Response:
        refusal = self._api_refusal(request)
        if refusal is not None:
            return refusal
        dashboard = self.dashboard(request.path_params["uid"])
        if dashboard is None:
            return _problem(404, "No such dashboard.")
        try:
            panel = dashboard.panel(request.path_params["key"])
        except KeyError:
            return _problem(404, "No such panel.")
        alerting = self.alerting(request)
        if alerting is None:
            return _no_samples()
        try:
            # Evaluated on the event loop on purpose: the sampler writes the store there too,
            # so a read never sees a half-written scrape. Bounded to ~120 steps per query.
            data = panel_data(
                alerting.store,
                panel,
                request.query_params.get("range", DEFAULT_RANGE),
                request.query_params.get("org") or None,
                round(time.time() * 1000),
            )
        except QueryError as err:
            return _problem(400, str(err))
        return _json(data)

    async def query_range_api(self, request: Request) -> Response:
        refusal = self._api_refusal(request)
        if refusal is not None:
            return refusal
        alerting = self.alerting(request)
        if alerting is None:
            return _no_samples()
        params = request.query_params
        try:
            now = time.time()
            end = float(params.get("end", now))
            start = float(params.get("start", end - 3600))
            step = float(params.get("step", 60))
            if step <= 0 or end < start or (end - start) / step > 11_000:
                raise QueryError("need start <= end, step > 0 and at most 11000 points")
            window = Window(round(start * 1000), round(end * 1000), round(step * 1000))
            data = evaluate_range(alerting.store, [(params.get("expr", ""), "")], window)
        except (QueryError, ValueError) as err:
            return _problem(400, str(err))
        return _json(data)
