"""Helpers of the gateway tests: a running gateway per backend, seeded users, metric deltas."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from peers import least_privilege
from prisma_glow_gateway.app import create_app
from prisma_glow_gateway.migrate import upgrade
from prisma_glow_gateway.settings import GatewaySettings as Settings

PASSWORD = "correct horse battery"
ROLES = ("viewer", "preparer", "approver", "admin")


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


class Delta:
    """``with Delta() as d: ...; d("security_auth_failed_total", reason="bad_password") == 1``."""

    def __init__(self) -> None:
        self._snapshot = self._collect()

    @staticmethod
    def _collect() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        values = {}
        for metric in REGISTRY.collect():
            for s in metric.samples:
                values[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return values

    def __enter__(self) -> Delta:
        self._snapshot = self._collect()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return sample(name, labels) - self._snapshot.get(key, 0.0)


@dataclass
class Gw:
    """A gateway under test: its client, settings and the seeded orgs and users."""

    client: TestClient
    settings: Settings
    backend: str
    orgs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    totps: dict[str, pyotp.TOTP] = field(default_factory=dict)
    # The gateway's TOTP clock: tests move it on (a code is accepted once per 30 s step).
    now: float = field(default_factory=time.time)

    @property
    def gateway(self) -> Any:
        return self.client.app.state.gateway  # type: ignore[attr-defined]

    def email(self, org: str, role: str) -> str:
        return f"{role}@{org}.example"

    def headers(self, org: str, role: str) -> dict[str, str]:
        key = f"{org}/{role}"
        if key not in self.tokens:
            response = self.client.post(
                "/auth/login", json={"email": self.email(org, role), "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            self.tokens[key] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[key]}"}

    def tick(self, seconds: float = 30.0) -> float:
        """Move the gateway's clock on (by one TOTP step by default)."""
        self.now += seconds
        return self.now

    def enrol_mfa(self, org: str, role: str) -> pyotp.TOTP:
        """Enrol the user's MFA once (enrol, then confirm with a first code); their TOTP."""
        key = f"{org}/{role}"
        if key not in self.totps:
            started = self.client.post("/auth/mfa/enrol", json={}, headers=self.headers(org, role))
            assert started.status_code == 201, started.text
            totp = pyotp.parse_uri(started.json()["provisioning_uri"])
            assert isinstance(totp, pyotp.TOTP)
            confirmed = self.client.post(
                "/auth/mfa/confirm", json={"code": totp.at(self.tick())}, headers=self.headers(org, role)
            )
            assert confirmed.status_code == 200 and confirmed.json()["enrolled"], confirmed.text
            self.totps[key] = totp
        return self.totps[key]

    def fresh_code(self, org: str, role: str = "approver") -> str:
        """A code of a time step this user has not used yet."""
        return str(self.enrol_mfa(org, role).at(self.tick()))

    def user_id(self, org: str, role: str) -> str:
        return next(u["id"] for u in self.orgs[org]["users"] if u["role"] == role)

    def run(self, fn: Any, *args: Any) -> Any:
        """Run an async function on the gateway's event loop."""
        return self.client.portal.call(fn, *args)  # type: ignore[union-attr]

    def upload(self, org: str, name: str, data: bytes, content_type: str, role: str = "preparer") -> Any:
        return self.client.post(
            "/documents",
            headers=self.headers(org, role),
            files={"file": (name, io.BytesIO(data), content_type)},
        )

    def committed_document(self, org: str, text: str = "Invoice 42 for consulting, total 1200 EUR") -> str:
        response = self.upload(org, "invoice.txt", text.encode(), "text/plain")
        assert response.status_code == 201, response.text
        doc_id: str = response.json()["id"]
        for stage in ("extract", "accept", "commit"):
            r = self.client.post(f"/documents/{doc_id}/{stage}", headers=self.headers(org, "preparer"))
            assert r.status_code == 200, r.text
        return doc_id


def settings_for(backend: str, data_dir: Path, database_url: str = "", **overrides: Any) -> Settings:
    """Test settings; a PostgreSQL URL (a superuser's) becomes the least-privilege pair of roles."""
    if database_url.startswith("postgres"):
        owner_url, database_url = least_privilege(database_url)
        overrides.setdefault("migration_database_url", owner_url)
    # Seeding hashes eight passwords: on a loaded machine that can outlast the 30 s default
    # request deadline, which only the deadline tests (test_outages.py) are about.
    overrides.setdefault("request_timeout_seconds", 600.0)
    return Settings(
        state_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret-key-0123456789abcdef",
        log_level="WARNING",
        **overrides,
    )


@contextmanager
def running_gateway(settings: Settings, backend: str, seed: bool = True) -> Iterator[Gw]:
    upgrade(settings)
    app = create_app(settings)
    with TestClient(app, client=("127.0.0.1", 50000), raise_server_exceptions=False) as client:
        gw = Gw(client=client, settings=settings, backend=backend)
        gw.gateway.clock = lambda: gw.now
        if seed:
            body = {
                "orgs": [
                    {
                        "slug": org,
                        "name": org.title(),
                        "users": [
                            {"email": gw.email(org, role), "password": PASSWORD, "role": role}
                            for role in ROLES
                        ],
                    }
                    for org in ("acme", "globex")
                ]
            }
            response = client.post("/admin/bootstrap", json=body)
            assert response.status_code == 200, response.text
            gw.orgs = {org["slug"]: org for org in response.json()["orgs"]}
        yield gw


@dataclass
class Served:
    """A gateway served by uvicorn on a real socket: for tests about what crosses the wire."""

    url: str
    port: int
    app: Any
    token: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str, org: str = "acme") -> dict[str, str]:
        if role not in self.token:
            response = httpx.post(
                self.url + "/auth/login",
                json={"email": f"{role}@{org}.example", "password": PASSWORD},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            self.token[role] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.token[role]}"}


@contextmanager
def served_gateway(settings: Settings) -> Iterator[Served]:
    """The gateway under uvicorn in a thread on a free port, seeded with acme's four users."""
    import threading

    import uvicorn

    from peers import free_port

    upgrade(settings)
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    served = Served(url=f"http://127.0.0.1:{port}", port=port, app=app)
    try:
        token = settings.ops_token.get_secret_value() if settings.ops_token else ""
        body = {
            "orgs": [
                {
                    "slug": "acme",
                    "name": "Acme",
                    "users": [{"email": f"{r}@acme.example", "password": PASSWORD, "role": r} for r in ROLES],
                }
            ]
        }
        seeded = httpx.post(
            served.url + "/admin/bootstrap",
            json=body,
            headers={"Authorization": f"Bearer {token}"} if token else {},
            timeout=60,
        )
        assert seeded.status_code == 200, seeded.text
        yield served
    finally:
        server.should_exit = True
        thread.join(30)
