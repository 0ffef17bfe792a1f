"""Assistant routes: conversations and their messages."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select

import glowops
from prisma_glow_gateway.assistant.responders import ResponderError, Turn
from prisma_glow_gateway.assistant.tools import Toolbox
from prisma_glow_gateway.deps import Ctx, rate_limit, require
from prisma_glow_gateway.gauges import refresh_active_users
from prisma_glow_gateway.models import Conversation, Message
from prisma_glow_gateway.problems import Problem

router = APIRouter(prefix="/assistant", tags=["assistant"], dependencies=[Depends(rate_limit)])


class ConversationIn(BaseModel):
    title: Annotated[str, Field(max_length=200)] = ""


class MessageIn(BaseModel):
    content: Annotated[str, Field(min_length=1, max_length=4000)]


def _conversation_out(conv: Conversation) -> dict[str, Any]:
    return {"id": conv.id, "title": conv.title, "created_at": conv.created_at.isoformat()}


def _message_out(msg: Message) -> dict[str, Any]:
    return {
        "id": msg.id,
        "role": msg.role,
        "content": msg.content,
        "responder": msg.responder,
        "created_at": msg.created_at.isoformat(),
    }


async def _own_conversation(ctx: Ctx, conversation_id: str) -> Conversation:
    conv: Conversation = await ctx.get(Conversation, conversation_id, "conversation")
    if conv.user_id != ctx.user_id:  # conversations are private to their author
        raise Problem(404, f"No conversation with id {conversation_id} in your organisation.")
    return conv


@router.post("/conversations", status_code=201)
async def start_conversation(
    body: ConversationIn, ctx: Ctx = Depends(require("assistant:use"))
) -> dict[str, Any]:
    conv = Conversation(org_id=ctx.org_id, user_id=ctx.user_id, title=body.title)
    ctx.session.add(conv)
    await ctx.session.commit()
    glowops.metrics.counter("assistant_conversations", tags={"org_id": ctx.org_id})
    return _conversation_out(conv)


@router.get("/conversations")
async def list_conversations(ctx: Ctx = Depends(require("assistant:use"))) -> list[dict[str, Any]]:
    rows = (
        await ctx.session.scalars(
            select(Conversation)
            .where(Conversation.org_id == ctx.org_id, Conversation.user_id == ctx.user_id)
            .order_by(Conversation.created_at.desc())
            .limit(100)
        )
    ).all()
    return [_conversation_out(conv) for conv in rows]


@router.get("/conversations/{conversation_id}")
async def get_conversation(
    conversation_id: str, ctx: Ctx = Depends(require("assistant:use"))
) -> dict[str, Any]:
    conv = await _own_conversation(ctx, conversation_id)
    messages = (
        await ctx.session.scalars(
            select(Message)
            .where(Message.conversation_id == conv.id, Message.org_id == ctx.org_id)
            .order_by(Message.created_at)
        )
    ).all()
    return {**_conversation_out(conv), "messages": [_message_out(m) for m in messages]}


@router.post("/conversations/{conversation_id}/messages", status_code=201)
async def post_message(
    conversation_id: str, body: MessageIn, ctx: Ctx = Depends(require("assistant:use"))
) -> dict[str, Any]:
    """Send a message; the reply comes back in the same response."""
    conv = await _own_conversation(ctx, conversation_id)
    previous = (
        await ctx.session.scalars(
            select(Message)
            .where(Message.conversation_id == conv.id, Message.org_id == ctx.org_id)
            .order_by(Message.created_at.desc())
            .limit(19)
        )
    ).all()
    history = [Turn(m.role, m.content) for m in reversed(previous)] + [Turn("user", body.content)]
    user_msg = Message(
        org_id=ctx.org_id, conversation_id=conv.id, user_id=ctx.user_id, role="user", content=body.content
    )
    ctx.session.add(user_msg)
    await ctx.session.flush()
    responder = ctx.gateway.responder
    toolbox = Toolbox(ctx.session, ctx.org_id, conv.id, ctx.gateway.cache)
    started = time.perf_counter()
    try:
        reply = await responder.respond(history, toolbox)
    except ResponderError as err:
        await ctx.session.commit()  # the question and the tool invocations stay on record
        glowops.metrics.counter("assistant_messages", tags={"org_id": ctx.org_id, "role": "user"})
        raise Problem(502, f"The assistant could not answer: {err}.") from None
    finally:
        glowops.metrics.histogram(
            "assistant_response_time_seconds",
            time.perf_counter() - started,
            tags={"responder": responder.name},
        )
    answer = Message(
        org_id=ctx.org_id,
        conversation_id=conv.id,
        user_id=None,
        role="assistant",
        content=reply,
        responder=responder.name,
    )
    ctx.session.add(answer)
    await ctx.session.commit()
    glowops.metrics.counter("assistant_messages", tags={"org_id": ctx.org_id, "role": "user"})
    glowops.metrics.counter("assistant_messages", tags={"org_id": ctx.org_id, "role": "assistant"})
    await refresh_active_users(ctx.session, ctx.org_id)
    return {
        "message": _message_out(user_msg),
        "reply": _message_out(answer),
        "tool_invocations": toolbox.invocations,
    }
