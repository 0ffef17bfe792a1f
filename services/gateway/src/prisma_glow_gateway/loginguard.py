"""Back-off after failed logins, per account and per client address.

Each key (an account, an address) has a failure count that decays over time (one failure
forgiven every ``decay_seconds``) and the time of its last failure. Once the count reaches
``threshold``, logins for that key are refused, before any password is checked, for
``base * 2^(round(count) - threshold)`` seconds after the last failure (capped at ``cap_seconds``):
exponential, so a guesser gets a few tries an hour, while the owner waits at most the cap. A
successful login clears its account's count (not its address': one good password must not
buy an address more guesses at other accounts).

With Redis the state is one hash per key, updated by a Lua script, so it is shared by the
replicas and survives a restart; without (or while Redis is down), an in-process table.
Time comes from the caller (``now``), so tests drive it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import glowops

_log = glowops.get_logger("prisma_glow_gateway.loginguard")


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    threshold: int
    decay_seconds: float
    base_seconds: float = 1.0
    cap_seconds: float = 900.0


def _wait(failures: float, last: float, now: float, policy: BackoffPolicy) -> float:
    if failures < policy.threshold:
        return 0.0
    backoff = min(
        policy.cap_seconds, policy.base_seconds * 2.0 ** (math.floor(failures + 0.5) - policy.threshold)
    )
    return max(0.0, last + backoff - now)


def _decayed(failures: float, last: float, now: float, policy: BackoffPolicy) -> float:
    return max(0.0, failures - max(0.0, now - last) / policy.decay_seconds)


class LocalFailures:
    """The in-process table (bounded: the oldest key goes first)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._state: dict[str, tuple[float, float]] = {}

    async def wait(self, key: str, now: float, policy: BackoffPolicy) -> float:
        failures, last = self._state.get(key, (0.0, now))
        return _wait(_decayed(failures, last, now, policy), last, now, policy)

    async def fail(self, key: str, now: float, policy: BackoffPolicy) -> None:
        failures, last = self._state.pop(key, (0.0, now))
        if len(self._state) >= self.max_keys:
            self._state.pop(next(iter(self._state)))
        self._state[key] = (_decayed(failures, last, now, policy) + 1.0, now)

    async def clear(self, key: str) -> None:
        self._state.pop(key, None)


_SCRIPT = """
local op = ARGV[1]
if op == 'clear' then redis.call('DEL', KEYS[1]) return '0' end
local now = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local decay = tonumber(ARGV[4])
local base = tonumber(ARGV[5])
local cap = tonumber(ARGV[6])
local state = redis.call('HMGET', KEYS[1], 'f', 't')
local f = tonumber(state[1]) or 0
local t = tonumber(state[2]) or now
f = math.max(0, f - math.max(0, now - t) / decay)
if op == 'fail' then
  f = f + 1
  t = now
  redis.call('HSET', KEYS[1], 'f', tostring(f), 't', tostring(t))
  redis.call('EXPIRE', KEYS[1], math.ceil(f * decay + cap) + 1)
end
local wait = 0
if f >= threshold then
  local backoff = math.min(cap, base * 2 ^ (math.floor(f + 0.5) - threshold))
  wait = math.max(0, t + backoff - now)
end
return tostring(wait)
"""


class RedisFailures:
    """The table in Redis: shared by replicas, kept across restarts; local while Redis is down."""

    def __init__(self, redis: Any, prefix: str = "glowops:login:") -> None:
        self._script = redis.register_script(_SCRIPT)
        self._prefix = prefix
        self._fallback = LocalFailures()
        self._warned = False

    async def _run(self, key: str, op: str, now: float, policy: BackoffPolicy) -> float | None:
        args = [op, now, policy.threshold, policy.decay_seconds, policy.base_seconds, policy.cap_seconds]
        try:
            result = float(await self._script(keys=[self._prefix + key], args=args))
        except Exception as err:  # Redis down: keep guarding, locally
            if not self._warned:
                _log.warning("login_guard_redis_unavailable", error=type(err).__name__)
                self._warned = True
            return None
        self._warned = False
        return result

    # The local table always learns too: a Redis call that times out under load must not
    # forget a failure (the answer is the stricter of the two).
    async def wait(self, key: str, now: float, policy: BackoffPolicy) -> float:
        local = await self._fallback.wait(key, now, policy)
        shared = await self._run(key, "check", now, policy)
        return max(local, shared or 0.0)

    async def fail(self, key: str, now: float, policy: BackoffPolicy) -> None:
        await self._fallback.fail(key, now, policy)
        await self._run(key, "fail", now, policy)

    async def clear(self, key: str) -> None:
        await self._run(key, "clear", 0.0, BackoffPolicy(1, 1.0))
        await self._fallback.clear(key)


class LoginGuard:
    """Says how long a login must wait, and learns from its outcome."""

    def __init__(
        self, store: LocalFailures | RedisFailures, account: BackoffPolicy, address: BackoffPolicy
    ) -> None:
        self.store = store
        self.account = account
        self.address = address

    @staticmethod
    def _account_key(email: str) -> str:
        # Keys never hold the e-mail itself (Redis is not a place for users' data).
        return "account:" + hashlib.blake2b(email.lower().encode(), digest_size=16).hexdigest()

    async def wait(self, email: str, address: str, now: float) -> tuple[float, str]:
        """Seconds this login must wait (0: go ahead) and which key holds it back."""
        account = await self.store.wait(self._account_key(email), now, self.account)
        by_address = await self.store.wait("address:" + address, now, self.address)
        return (account, "account") if account >= by_address else (by_address, "address")

    async def failed(self, email: str, address: str, now: float) -> None:
        await self.store.fail(self._account_key(email), now, self.account)
        await self.store.fail("address:" + address, now, self.address)

    async def succeeded(self, email: str) -> None:
        await self.store.clear(self._account_key(email))
