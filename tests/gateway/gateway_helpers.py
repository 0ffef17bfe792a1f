"""Helpers of the gateway tests: a running gateway per backend, seeded users, metric deltas."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
