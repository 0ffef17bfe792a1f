"""``prisma-glow-gateway demo traffic``: a realistic mix of gateway traffic, failures included.

It seeds two demo organisations and their users through ``POST /admin/bootstrap`` (with
``GLOWOPS_OPS_TOKEN``, or without it into an empty database), logs them in, then starts scenarios at
``--rps`` per second for ``--duration`` seconds across the four domains: logins (good, bad
password, unknown user, forged token), assistant conversations, the document pipeline
(good and corrupt uploads, invalid transitions), approvals (MFA passed and failed, overdue
ones) and security refusals (cross-org access, missing permission). Each scenario knows
which status it expects; the summary table counts those that got something else.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import pyotp
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from prisma_glow_gateway.samples import corrupt_document, good_document
from prisma_glow_gateway.settings import GatewaySettings, load_settings

app = typer.Typer(help="Drive demo traffic at a gateway.", no_args_is_help=True)

ORGS = ("demo-acme", "demo-globex")
ROLES = ("viewer", "preparer", "approver", "admin")
GUESSED = "guessed"  # the account whose password the demo "guesses"
DEMO_PASSWORD = "demo-password-1"


class Unexpected(Exception):
    """A step got a status the scenario did not expect."""


@dataclass
class Tally:
    runs: int = 0
    as_expected: int = 0
    unexpected: int = 0
    rate_limited: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)


@dataclass
class Summary:
    """What a run did: per scenario, and per status code."""

    scenarios: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def unexpected(self) -> int:
        return sum(t.unexpected + t.errors for t in self.scenarios.values())

    @property
    def runs(self) -> int:
        return sum(t.runs for t in self.scenarios.values())


class _Enrolment:
    """An approver's TOTP and the last time step used: the gateway accepts each step once."""

    def __init__(self, totp: pyotp.TOTP) -> None:
        self.totp = totp
        self.last_step = -1
        # One decision at a time: codes must reach the gateway in the order of their steps.
        self.lock = asyncio.Lock()

    def next_code(self) -> str | None:
        """A code of an unused step within the gateway's window (now, or one step either side)."""
        current = int(time.time() // self.totp.interval)
        step = max(self.last_step + 1, current - 1)
        if step > current + 1:
            return None
        self.last_step = step
        return self.totp.generate_otp(step)


# Enrolments made by this process, per (gateway, e-mail): the built-in demo drives runs repeatedly.
_ENROLLED: dict[tuple[str, str], _Enrolment] = {}


class NoFreshCode(Exception):
    """Every MFA code of the current window was used (each works once): this run skips."""


class DemoRun:
    """The seeded demo world and the scenarios that act in it."""

    def __init__(self, client: httpx.AsyncClient, ops_token: str | None, rng: random.Random) -> None:
        self.client = client
        self.ops_token = ops_token
        self.rng = rng
        self.tokens: dict[tuple[str, str], str] = {}
        self.mfa: dict[str, _Enrolment] = {}
        self.committed: dict[str, list[str]] = {org: [] for org in ORGS}
        self.documents: dict[str, list[str]] = {org: [] for org in ORGS}
        self.summary = Summary()

    # --- set-up -----------------------------------------------------------------------------
    @staticmethod
    def email(org: str, role: str) -> str:
        return f"{role}@{org}.demo"

    async def seed(self) -> None:
        body = {
            "orgs": [
                {
                    "slug": org,
                    "name": org.replace("-", " ").title(),
                    "users": [
                        *(
                            {"email": self.email(org, role), "password": DEMO_PASSWORD, "role": role}
                            for role in ROLES
                        ),
                        # The target of the bad-password scenario: its back-off (429) never
                        # locks out the accounts the other scenarios log in with.
                        {"email": self.email(org, GUESSED), "password": DEMO_PASSWORD, "role": "viewer"},
                    ],
                }
                for org in ORGS
            ]
        }
        headers = {"Authorization": f"Bearer {self.ops_token}"} if self.ops_token else {}
        response = await self.client.post("/admin/bootstrap", json=body, headers=headers)
        # Without the ops token, only the first set-up of an empty database is allowed: a later
        # run finds the demo users there already (the logins below say if they are not).
        if response.status_code not in (200, 401):
            raise RuntimeError(f"seeding the demo users failed: {response.status_code} {response.text[:200]}")
        await asyncio.gather(*(self.login(org, role) for org in ORGS for role in ROLES))
        for org in ORGS:
            await self.enrol_mfa(org)

    async def enrol_mfa(self, org: str) -> None:
        """The approver's MFA: remembered from an earlier run in this process, else enrolled
        (after an admin's reset when it was enrolled by a run that is gone)."""
        key = (str(self.client.base_url), self.email(org, "approver"))
        if key in _ENROLLED:
            self.mfa[org] = _ENROLLED[key]
            return
        started = await self.client.post("/auth/mfa/enrol", json={}, headers=self.auth(org, "approver"))
        if started.status_code == 403:
            me = await self.client.get("/auth/me", headers=self.auth(org, "approver"))
            me.raise_for_status()
            reset_url = f"/users/{me.json()['id']}/mfa/reset"
            reset = await self.client.post(reset_url, headers=self.auth(org, "admin"))
            reset.raise_for_status()
            started = await self.client.post("/auth/mfa/enrol", json={}, headers=self.auth(org, "approver"))
        started.raise_for_status()
        enrolment = _Enrolment(pyotp.TOTP(started.json()["secret"]))
        # Confirm with the earliest step the gateway accepts, leaving the later ones of the
        # window for the approvals. After a reset earlier steps may be spent (the steps are the
        # user's, not the secret's), and another driver of the same gateway may spend them: a
        # refused step is tried again with the next one, waiting for it when the window is spent.
        enrolment.last_step = int(time.time() // enrolment.totp.interval) - 2
        confirmed: httpx.Response | None = None
        for _ in range(4):
            code = enrolment.next_code()
            if code is None:
                await asyncio.sleep(enrolment.totp.interval - time.time() % enrolment.totp.interval + 0.05)
                continue
            confirmed = await self.client.post(
                "/auth/mfa/confirm", json={"code": code}, headers=self.auth(org, "approver")
            )
            if confirmed.status_code != 403:
                break
        if confirmed is None:
            raise RuntimeError("no MFA step was free to confirm the demo approver's enrolment")
        confirmed.raise_for_status()
        self.mfa[org] = _ENROLLED[key] = enrolment

    async def login(self, org: str, role: str) -> None:
        response = await self.client.post(
            "/auth/login", json={"email": self.email(org, role), "password": DEMO_PASSWORD}
        )
        if response.status_code != 200:
            raise RuntimeError(f"demo login failed for {role}@{org}: {response.status_code}")
        self.tokens[(org, role)] = response.json()["access_token"]

    def auth(self, org: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[(org, role)]}"}

    def org(self) -> str:
        return self.rng.choice(ORGS)

    # --- one HTTP step -----------------------------------------------------------------------
    async def step(
        self, expected: int | tuple[int, ...], method: str, url: str, **kwargs: Any
    ) -> httpx.Response:
        response = await self.client.request(method, url, **kwargs)
        self.summary.statuses[response.status_code] += 1
        wanted = (expected,) if isinstance(expected, int) else expected
        if response.status_code == 429:
            raise RateLimited()
        if response.status_code not in wanted:
            raise Unexpected(f"{method} {url.split('/')[1]} -> {response.status_code}")
        return response

    # --- scenarios ---------------------------------------------------------------------------
    async def login_ok(self) -> None:
        org, role = self.org(), self.rng.choice(ROLES)
        await self.step(
            200, "POST", "/auth/login", json={"email": self.email(org, role), "password": DEMO_PASSWORD}
        )

    async def login_bad_password(self) -> None:
        org = self.org()
        await self.step(
            (401, 429),  # 429: the account backs off after repeated failures
            "POST",
            "/auth/login",
            json={"email": self.email(org, GUESSED), "password": "wrong-" + secrets.token_hex(3)},
        )

    async def login_unknown_user(self) -> None:
        await self.step(
            401,
            "POST",
            "/auth/login",
            json={"email": f"ghost{self.rng.randint(1, 99)}@nowhere.demo", "password": "whatever-1"},
        )

    async def forged_token(self) -> None:
        forged = self.tokens[(self.org(), "viewer")].rsplit(".", 1)[0] + "." + secrets.token_urlsafe(32)
        await self.step(401, "GET", "/auth/me", headers={"Authorization": f"Bearer {forged}"})

    async def assistant_chat(self) -> None:
        org, role = self.org(), self.rng.choice(("viewer", "preparer", "approver"))
        conv = await self.step(
            201, "POST", "/assistant/conversations", json={"title": "demo"}, headers=self.auth(org, role)
        )
        url = f"/assistant/conversations/{conv.json()['id']}/messages"
        question = self.rng.choice(
            (
                "search invoice",
                "find Northwind",
                "what approvals are pending?",
                "look for contract",
                "search EUR statement",
            )
        )
        await self.step(201, "POST", url, json={"content": question}, headers=self.auth(org, role))
        if self.documents[org] and self.rng.random() < 0.5:
            doc_id = self.rng.choice(self.documents[org])
            await self.step(
                201, "POST", url, json={"content": f"status of {doc_id}"}, headers=self.auth(org, role)
            )

    async def document_pipeline(self) -> None:
        org = self.org()
        name, data, content_type = good_document(self.rng)
        doc = await self.step(
            201,
            "POST",
            "/documents",
            files={"file": (name, data, content_type)},
            headers=self.auth(org, "preparer"),
        )
        doc_id = doc.json()["id"]
        self.documents[org].append(doc_id)
        for stage in ("extract", "accept", "commit"):
            await self.step(200, "POST", f"/documents/{doc_id}/{stage}", headers=self.auth(org, "preparer"))
        self.committed[org].append(doc_id)

    async def corrupt_upload(self) -> None:
        name, data, content_type = corrupt_document(self.rng)
        await self.step(
            422,
            "POST",
            "/documents",
            files={"file": (name, data, content_type)},
            headers=self.auth(self.org(), "preparer"),
        )

    async def invalid_transition(self) -> None:
        org = self.org()
        name, data, content_type = good_document(self.rng)
        doc = await self.step(
            201,
            "POST",
            "/documents",
            files={"file": (name, data, content_type)},
            headers=self.auth(org, "preparer"),
        )
        await self.step(
            409, "POST", f"/documents/{doc.json()['id']}/commit", headers=self.auth(org, "preparer")
        )

    async def _committed_doc(self, org: str) -> str:
        if not self.committed[org]:
            await self.document_pipeline_in(org)
        return self.rng.choice(self.committed[org])

    async def document_pipeline_in(self, org: str) -> None:
        name, data, content_type = good_document(self.rng)
        doc = await self.step(
            201,
            "POST",
            "/documents",
            files={"file": (name, data, content_type)},
            headers=self.auth(org, "preparer"),
        )
        doc_id = doc.json()["id"]
        for stage in ("extract", "accept", "commit"):
            await self.step(200, "POST", f"/documents/{doc_id}/{stage}", headers=self.auth(org, "preparer"))
        self.committed[org].append(doc_id)

    async def _request(self, org: str, amount: float, **extra: Any) -> dict[str, Any]:
        doc_id = await self._committed_doc(org)
        response = await self.step(
            201,
            "POST",
            "/approvals",
            headers=self.auth(org, "preparer"),
            json={"document_id": doc_id, "amount": amount, **extra},
        )
        result: dict[str, Any] = response.json()
        return result

    async def approval_flow(self) -> None:
        org = self.org()
        approval = await self._request(org, round(self.rng.uniform(50, 5000), 2))
        body: dict[str, Any] = {"decision": self.rng.choice(("approved", "approved", "rejected"))}
        if approval["mfa_required"]:
            await self._decide_with_mfa(org, approval, body)
            return
        await self._decide(org, approval, body, expect=200)

    async def _decide_with_mfa(self, org: str, approval: dict[str, Any], body: dict[str, Any]) -> None:
        enrolment = self.mfa[org]
        async with enrolment.lock:
            code = enrolment.next_code()
            if code is None:
                raise NoFreshCode("no unused MFA code in this 30 s window")
            try:
                await self._decide(org, approval, {**body, "mfa_code": code}, expect=200)
            except Unexpected:
                # Re-enrolled by another demo run meanwhile: enrol again on the next run.
                _ENROLLED.pop((str(self.client.base_url), self.email(org, "approver")), None)
                raise

    async def _decide(self, org: str, approval: dict[str, Any], body: dict[str, Any], expect: int) -> None:
        """The approver's decision on ``approval``, expecting ``expect``."""
        await self.step(
            expect,
            "POST",
            f"/approvals/{approval['id']}/decision",
            json=body,
            headers=self.auth(org, "approver"),
        )

    async def approval_with_mfa(self) -> None:
        org = self.org()
        approval = await self._request(org, 250_000.0)
        await self._decide_with_mfa(org, approval, {"decision": "approved"})

    async def mfa_failure(self) -> None:
        org = self.org()
        approval = await self._request(org, 180_000.0)
        if not approval["mfa_required"]:
            return
        wrong = f"{(int(self.mfa[org].totp.now()) + 1) % 1_000_000:06d}"
        await self._decide(org, approval, {"decision": "approved", "mfa_code": wrong}, expect=403)

    async def overdue_approval(self) -> None:
        """Left pending with a one-second SLA: the next sweep marks it overdue."""
        org = self.org()
        await self._request(org, round(self.rng.uniform(100, 900), 2), sla_hours=1 / 3600, note="urgent")

    async def list_pending(self) -> None:
        await self.step(200, "GET", "/approvals/pending", headers=self.auth(self.org(), "viewer"))

    async def cross_org_access(self) -> None:
        victim = self.org()
        intruder = next(org for org in ORGS if org != victim)
        if not self.documents[victim]:
            await self.document_pipeline_in(victim)
            self.documents[victim].extend(self.committed[victim][-1:])
        doc_id = self.rng.choice(self.documents[victim])
        await self.step(404, "GET", f"/documents/{doc_id}", headers=self.auth(intruder, "preparer"))

    async def permission_denied(self) -> None:
        name, data, content_type = good_document(self.rng)
        await self.step(
            403,
            "POST",
            "/documents",
            files={"file": (name, data, content_type)},
            headers=self.auth(self.org(), "viewer"),
        )

    def mix(self) -> list[tuple[str, float, Callable[[], Awaitable[None]]]]:
        return [
            ("login", 2.0, self.login_ok),
            ("login: bad password", 1.0, self.login_bad_password),
            ("login: unknown user", 0.5, self.login_unknown_user),
            ("forged token", 0.5, self.forged_token),
            ("assistant chat", 3.0, self.assistant_chat),
            ("document pipeline", 3.0, self.document_pipeline),
            ("corrupt upload", 1.0, self.corrupt_upload),
            ("invalid transition", 0.5, self.invalid_transition),
            ("approval", 2.0, self.approval_flow),
            ("approval with MFA", 1.0, self.approval_with_mfa),
            ("MFA failure", 1.0, self.mfa_failure),
            ("overdue approval", 0.7, self.overdue_approval),
            ("pending approvals", 1.0, self.list_pending),
            ("cross-org access", 1.0, self.cross_org_access),
            ("permission denied", 1.0, self.permission_denied),
        ]

    async def run_one(self, name: str, scenario: Callable[[], Awaitable[None]]) -> None:
        tally = self.summary.scenarios[name]
        tally.runs += 1
        started = time.perf_counter()
        try:
            await scenario()
            tally.as_expected += 1
        except RateLimited:
            tally.rate_limited += 1
        except NoFreshCode as err:  # expected: the gateway refuses a code twice
            tally.as_expected += 1
            tally.notes[str(err)] += 1
        except Unexpected as err:
            tally.unexpected += 1
            tally.notes[str(err)] += 1
        except httpx.HTTPError as err:
            tally.errors += 1
            tally.notes[type(err).__name__] += 1
        finally:
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)


class RateLimited(Exception):
    """The gateway asked the demo to slow down (429)."""


async def drive(
    target: str,
    duration: float,
    rps: float,
    *,
    ops_token: str | None = None,
    seed: int | None = None,
    on_tick: Callable[[float, Summary], None] | None = None,
    concurrency: int = 32,
) -> Summary:
    """Seed, then run scenarios at ``rps`` for ``duration`` seconds; returns the summary."""
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=target, timeout=30.0, limits=limits) as client:
        run = DemoRun(client, ops_token, rng)
        await run.seed()
        mix = run.mix()
        weights = [weight for _, weight, _ in mix]
        gate = asyncio.Semaphore(concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def guarded(name: str, scenario: Callable[[], Awaitable[None]]) -> None:
            async with gate:
                await run.run_one(name, scenario)

        # Every scenario once first (shuffled), so each kind of failure shows even in a short run.
        first_pass = rng.sample(mix, len(mix))
        started = time.monotonic()
        launched = 0
        while (elapsed := time.monotonic() - started) < duration:
            due = int(elapsed * rps) + 1
            while launched < due:
                name, _, scenario = (
                    first_pass[launched] if launched < len(first_pass) else rng.choices(mix, weights)[0]
                )
                task = asyncio.create_task(guarded(name, scenario))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                launched += 1
            if on_tick is not None:
                on_tick(elapsed, run.summary)
            await asyncio.sleep(min(0.1, 1 / max(rps, 0.1)))
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        run.summary.seconds = time.monotonic() - started
        if on_tick is not None:
            on_tick(duration, run.summary)
        return run.summary


def render_summary(summary: Summary, console: Console) -> None:
    table = Table(title=f"Demo traffic: {summary.runs} scenarios in {summary.seconds:.1f} s")
    for column in ("scenario", "runs", "as expected", "unexpected", "rate limited", "p50 ms", "p95 ms"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for name, tally in sorted(summary.scenarios.items()):
        lat = sorted(tally.latencies_ms) or [0.0]
        p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
        table.add_row(
            name,
            str(tally.runs),
            str(tally.as_expected),
            str(tally.unexpected + tally.errors),
            str(tally.rate_limited),
            f"{statistics.median(lat):.0f}",
            f"{p95:.0f}",
        )
    console.print(table)
    codes = ", ".join(f"{code}: {count}" for code, count in sorted(summary.statuses.items()))
    console.print(f"HTTP statuses: {codes}")
    for name, tally in sorted(summary.scenarios.items()):
        for note, count in tally.notes.most_common(3):
            console.print(f"[red]unexpected[/red] {name}: {note} (x{count})")


@app.command("traffic")
def traffic(
    target: Annotated[str, typer.Option(help="Base URL of the gateway.")] = "http://127.0.0.1:8000",
    duration: Annotated[float, typer.Option(min=0.5, help="Seconds to run.")] = 30.0,
    rps: Annotated[float, typer.Option(min=0.1, max=500, help="Scenarios started per second.")] = 5.0,
    seed: Annotated[int | None, typer.Option(help="Random seed, for a repeatable mix.")] = None,
) -> None:
    """Drive a realistic mix over auth, assistant, documents and approvals, failures included.

    Seeds the demo-acme and demo-globex organisations (POST /admin/bootstrap with
    GLOWOPS_OPS_TOKEN; without it, only into an empty database, else they must exist already).
    Exit code 1 when a scenario got a status it did not expect. Example::

        prisma-glow-gateway demo traffic --target http://127.0.0.1:8000 --duration 60 --rps 10
    """
    settings = load_settings()
    ops_token = settings.ops_token.get_secret_value() if settings.ops_token else None
    console = Console()
    interactive = sys.stdout.isatty()
    progress = Progress(
        TextColumn("[bold]demo traffic"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeRemainingColumn(),
        console=console,
        disable=not interactive,
    )
    task_id = progress.add_task("", total=duration)
    last_line = [0.0]

    def tick(elapsed: float, summary: Summary) -> None:
        text = f"{summary.runs} scenarios, {summary.unexpected} unexpected"
        progress.update(task_id, completed=min(elapsed, duration), description=text)
        if not interactive and elapsed - last_line[0] >= 5.0:
            last_line[0] = elapsed
            typer.echo(f"demo traffic: {elapsed:.0f}/{duration:.0f} s, {text}")

    try:
        with progress:
            summary = asyncio.run(drive(target, duration, rps, ops_token=ops_token, seed=seed, on_tick=tick))
    except (httpx.HTTPError, RuntimeError) as err:
        typer.echo(f"prisma-glow-gateway demo: cannot drive {target}: {err}", err=True)
        raise typer.Exit(2) from None
    render_summary(summary, console)
    if summary.unexpected:
        raise typer.Exit(1)


async def run_builtin_demo(settings: GatewaySettings, rps: float = 1.0) -> None:
    """Light traffic at this gateway for ``prisma-glow-gateway serve --demo`` (runs until cancelled)."""
    from glowops import get_logger

    log = get_logger("prisma_glow_gateway.demo")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    target = f"http://{host}:{settings.port}"
    ops_token = settings.ops_token.get_secret_value() if settings.ops_token else None
    await asyncio.sleep(1.0)  # let the server start listening
    while True:
        try:
            summary = await drive(target, 60.0, rps, ops_token=ops_token)
            log.info("demo_traffic", scenarios=summary.runs, unexpected=summary.unexpected)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.warning("demo_traffic_failed", error=type(err).__name__)
            await asyncio.sleep(5.0)
