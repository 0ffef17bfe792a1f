"""The assistant: conversations, the local tool router, the OpenAI responder over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import Delta, Gw, running_gateway, sample, settings_for
from sqlalchemy import select

from prisma_glow_gateway.models import Message, ToolInvocation


def start(gw: Gw, org: str = "acme", role: str = "viewer") -> str:
    response = gw.client.post("/assistant/conversations", json={"title": "q"}, headers=gw.headers(org, role))
    assert response.status_code == 201
    conv_id: str = response.json()["id"]
    return conv_id


def ask(gw: Gw, conv_id: str, content: str, org: str = "acme", role: str = "viewer") -> Any:
    return gw.client.post(
        f"/assistant/conversations/{conv_id}/messages",
        json={"content": content},
        headers=gw.headers(org, role),
    )


def tool_rows(gw: Gw, conv_id: str) -> list[ToolInvocation]:
    async def load() -> list[ToolInvocation]:
        async with gw.gateway.db.system() as session:
            return list(
                await session.scalars(select(ToolInvocation).where(ToolInvocation.conversation_id == conv_id))
            )

    rows: list[ToolInvocation] = gw.run(load)
    return rows


def test_conversation_search_answers_from_the_orgs_documents(gw: Gw) -> None:
    gw.committed_document("acme", "Consulting invoice from Wingtip, 880 EUR")
    gw.committed_document("globex", "Globex Wingtip merger memo")  # another org: never in acme's answers
    org_id = gw.orgs["acme"]["id"]
    with Delta() as d:
        conv_id = start(gw)
        response = ask(gw, conv_id, "search Wingtip")
    assert response.status_code == 201, response.text
    body = response.json()
    assert "invoice.txt" in body["reply"]["content"] and "880 EUR" in body["reply"]["content"]
    assert "merger" not in body["reply"]["content"]
    assert body["reply"]["responder"] == "local"
    assert [t["tool"] for t in body["tool_invocations"]] == ["search_documents"]
    assert d("assistant_conversations_total", org_id=org_id) == 1
    assert d("assistant_messages_total", org_id=org_id, role="user") == 1
    assert d("assistant_messages_total", org_id=org_id, role="assistant") == 1
    assert d("assistant_tool_invocations_total", tool="search_documents", outcome="ok") == 1
    assert d("assistant_response_time_seconds_count", responder="local") == 1
    rows = tool_rows(gw, conv_id)
    assert [(r.tool, r.outcome, r.arguments) for r in rows] == [
        ("search_documents", "ok", {"query": "Wingtip"})
    ]
    history = gw.client.get(
        f"/assistant/conversations/{conv_id}", headers=gw.headers("acme", "viewer")
    ).json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]


def test_pending_approvals_and_document_status_tools(gw: Gw) -> None:
    doc_id = gw.committed_document("acme")
    gw.client.post(
        "/approvals", headers=gw.headers("acme", "preparer"), json={"document_id": doc_id, "amount": 321}
    )
    conv_id = start(gw)
    pending = ask(gw, conv_id, "Which approvals are pending?").json()
    assert "321.00" in pending["reply"]["content"]
    assert pending["tool_invocations"][0]["tool"] == "list_pending_approvals"
    status = ask(gw, conv_id, f"what is the status of {doc_id}?").json()
    assert status["reply"]["content"] == "Document invoice.txt is committed."
    with Delta() as d:
        missing = ask(gw, conv_id, "status of 00000000-0000-0000-0000-000000000000").json()
    assert "could not find" in missing["reply"]["content"]
    assert d("assistant_tool_invocations_total", tool="document_status", outcome="error") == 1
    assert [r.outcome for r in tool_rows(gw, conv_id)].count("error") == 1


def test_active_users_counts_distinct_users_of_the_last_day(gw: Gw) -> None:
    org_id = gw.orgs["globex"]["id"]

    async def distinct_users() -> int:
        async with gw.gateway.db.system() as session:
            rows = await session.scalars(
                select(Message.user_id).where(Message.org_id == org_id, Message.role == "user").distinct()
            )
            return len(list(rows))

    for role in ("viewer", "preparer"):
        ask(gw, start(gw, "globex", role), "hello", org="globex", role=role)
    assert sample("assistant_active_users", {"org_id": org_id}) == gw.run(distinct_users) >= 2


def test_conversations_are_private(gw: Gw) -> None:
    conv_id = start(gw, "acme", "viewer")
    with Delta() as d:
        assert ask(gw, conv_id, "hi", org="globex").status_code == 404
    assert d("security_rls_denied_total", table="conversations") == 1
    # Same org, another user: not found either (but not a cross-org event).
    assert ask(gw, conv_id, "hi", role="preparer").status_code == 404
    listed = gw.client.get("/assistant/conversations", headers=gw.headers("acme", "preparer")).json()
    assert conv_id not in [c["id"] for c in listed]


def test_empty_message_is_a_validation_problem(gw: Gw) -> None:
    body = ask(gw, start(gw), "").json()
    assert body["status"] == 422 and body["errors"][0]["field"] == "content"


# --- the OpenAI responder against a local server speaking the chat completions API ----------------
class FakeOpenAI:
    """Answers /v1/chat/completions: first a tool call, then text built from the tool result."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(
                    {
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        "body": body,
                        "request_id": self.headers.get("X-Request-ID"),
                    }
                )
                if fake.fail:
                    self._send(500, {"error": {"message": "overloaded", "type": "server_error"}})
                    return
                messages = body["messages"]
                if messages[-1]["role"] == "tool":
                    hits = json.loads(messages[-1]["content"])["hits"]
                    message: dict[str, Any] = {
                        "role": "assistant",
                        "content": f"Found {len(hits)}: {hits[0]['filename']}",
                    }
                else:
                    message = {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {
                                    "name": "search_documents",
                                    "arguments": json.dumps({"query": "Tailspin"}),
                                },
                            }
                        ],
                    }
                self._send(
                    200,
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": message,
                                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                            }
                        ],
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    yield fake
    fake.server.shutdown()


def test_openai_responder_calls_tools_through_the_api(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    settings = settings_for(
        "sqlite",
        tmp_path,
        openai_api_key="sk-test-123",
        openai_base_url=fake_openai.url,
        openai_model="gpt-test",
    )
    with running_gateway(settings, "sqlite") as gw:
        gw.committed_document("acme", "Tailspin toys purchase order")
        conv_id = start(gw)
        with Delta() as d:
            response = ask(gw, conv_id, "Anything from Tailspin?")
        assert response.status_code == 201, response.text
        # The model API sees the request ID of the user's request (correlation across services).
        assert {r["request_id"] for r in fake_openai.requests} == {response.headers["X-Request-ID"]}
        assert response.json()["reply"] == {
            **response.json()["reply"],
            "content": "Found 1: invoice.txt",
            "responder": "openai",
        }
        assert d("assistant_tool_invocations_total", tool="search_documents", outcome="ok") == 1
        assert d("assistant_response_time_seconds_count", responder="openai") == 1
        first, second = fake_openai.requests
        assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test-123"
        assert first["body"]["model"] == "gpt-test"
        assert {t["function"]["name"] for t in first["body"]["tools"]} == {
            "search_documents",
            "list_pending_approvals",
            "document_status",
        }
        assert first["body"]["messages"][-1] == {"role": "user", "content": "Anything from Tailspin?"}
        assert second["body"]["messages"][-1]["tool_call_id"] == "call_1"

        fake_openai.fail = True
        failed = ask(gw, conv_id, "again?")
        assert failed.status_code == 502 and failed.headers["content-type"] == "application/problem+json"
        assert "answered 500" in failed.json()["detail"] and "overloaded" not in failed.text
