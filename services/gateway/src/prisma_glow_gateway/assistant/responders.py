"""Responders: who writes the assistant's reply.

- :class:`LocalResponder` (default, no network): a small intent router that answers by calling
  the real tools (document search, pending approvals, document status).
- :class:`OpenAIResponder` (when ``OPENAI_API_KEY`` is set): the OpenAI chat completions API
  with the same tools offered as functions; tool calls are run through the same toolbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from prisma_glow_gateway.assistant.tools import TOOL_SPECS, Toolbox
from prisma_glow_gateway.settings import GatewaySettings


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # "user" or "assistant"
    content: str


class ResponderError(Exception):
    """The responder could not produce a reply (upstream down, malformed answer)."""


class Responder(Protocol):
    name: str

    async def respond(self, history: list[Turn], tools: Toolbox) -> str:
        """The reply to the last user turn of ``history``."""
        ...

    async def aclose(self) -> None: ...

    @property
    def http_client(self) -> httpx.AsyncClient | None:
        """The outgoing HTTP client, if any (traced and given X-Request-ID by glowops)."""
        ...


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_SEARCH_PREFIX = re.compile(r"^\s*(?:please\s+)?(?:search|find|look\s+for|look\s+up)\s+(?:for\s+)?", re.I)
HELP = (
    'I can search your documents ("search invoice March"), list pending approvals '
    '("what is pending?") and tell a document\'s status ("status of <document id>").'
)


class LocalResponder:
    """Answers from the tools, choosing one by the wording of the question."""

    name = "local"

    async def respond(self, history: list[Turn], tools: Toolbox) -> str:
        question = history[-1].content.strip()
        lower = question.lower()
        doc_id = _UUID.search(question)
        if doc_id and ("status" in lower or "where" in lower):
            found = await tools.call("document_status", {"document_id": doc_id.group(0)})
            if "error" in found:
                return f"I could not find that document: {found['error']}."
            return f"Document {found['filename']} is {found['status']}."
        if "pending" in lower or "approval" in lower:
            pending = (await tools.call("list_pending_approvals", {}))["pending"]
            if not pending:
                return "Nothing is waiting for approval."
            overdue = sum(1 for item in pending if item["overdue"])
            lines = [
                f"- {item['amount']:,.2f} due {item['due_at']}{' (OVERDUE)' if item['overdue'] else ''}"
                for item in pending[:10]
            ]
            return f"{len(pending)} approval(s) pending, {overdue} overdue:\n" + "\n".join(lines)
        if lower in ("", "help", "hi", "hello", "?"):
            return HELP
        query = _SEARCH_PREFIX.sub("", question) or question
        result = await tools.call("search_documents", {"query": query})
        if "error" in result:
            return f"{result['error'].capitalize()}. {HELP}"
        hits = result["hits"]
        if not hits:
            return f"No document mentions {result['query']!r}."
        lines = [f"- {hit['filename']} ({hit['status']}): {hit['snippet']}" for hit in hits]
        return f"{len(hits)} document(s) match {result['query']!r}:\n" + "\n".join(lines)

    async def aclose(self) -> None:
        return None

    @property
    def http_client(self) -> httpx.AsyncClient | None:
        return None


SYSTEM_PROMPT = (
    "You are the Prisma Glow assistant for one organisation. Answer briefly. Use the tools to "
    "look at the organisation's documents and approvals; never invent document contents."
)


class OpenAIResponder:
    """The chat completions API with the toolbox offered as functions (at most a few rounds)."""

    name = "openai"
    max_rounds = 4

    def __init__(
        self,
        api_key: str,
        base_url: str,
        model: str,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {api_key}"},
        )
        self._tools = [spec.openai_schema() for spec in TOOL_SPECS]

    async def respond(self, history: list[Turn], tools: Toolbox) -> str:
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}]
        messages += [{"role": turn.role, "content": turn.content} for turn in history[-20:]]
        for _ in range(self.max_rounds):
            message = await self._complete(messages)
            calls = message.get("tool_calls") or []
            if not calls:
                content = message.get("content")
                if not isinstance(content, str) or not content.strip():
                    raise ResponderError("the model returned an empty reply")
                return content
            messages.append({"role": "assistant", "content": message.get("content"), "tool_calls": calls})
            for call in calls:
                function = call.get("function", {})
                try:
                    arguments = orjson.loads(function.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    arguments = {}
                if not isinstance(arguments, dict):
                    arguments = {}
                result = await tools.call(str(function.get("name", "")), arguments)
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call.get("id", ""),
                        "content": orjson.dumps(result).decode(),
                    }
                )
        raise ResponderError("the model kept calling tools without answering")

    async def _complete(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            # X-Request-ID and traceparent are added by glowops.instrument_clients (Gateway.build).
            response = await self._client.post(
                "chat/completions",
                json={"model": self.model, "messages": messages, "tools": self._tools},
            )
        except httpx.HTTPError as err:
            raise ResponderError(f"the model API is unreachable ({type(err).__name__})") from None
        if response.status_code != 200:
            raise ResponderError(f"the model API answered {response.status_code}")
        try:
            message: dict[str, Any] = response.json()["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ResponderError("the model API answered in an unexpected format") from None
        return message

    @property
    def http_client(self) -> httpx.AsyncClient | None:
        return self._client

    async def aclose(self) -> None:
        await self._client.aclose()


def build_responder(settings: GatewaySettings) -> Responder:
    if settings.openai_api_key and settings.openai_api_key.get_secret_value():
        return OpenAIResponder(
            settings.openai_api_key.get_secret_value(),
            settings.openai_base_url,
            settings.openai_model,
            timeout=settings.http_timeout_seconds,
        )
    return LocalResponder()
