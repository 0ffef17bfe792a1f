"""The Prisma Glow pack's alert rules: the seed's dependency, cache, queue, security, approvals
and rate-limit alerts, written with glowops' :class:`~glowops.alerting.rules.RuleBuilder`."""

from __future__ import annotations

from dataclasses import dataclass

from glowops.alerting.rules import AlertRule, RuleBuilder, num

FAMILIES: tuple[str, ...] = ("cache", "indexing", "security", "approvals", "rate_limit")
# Health checks with an alert of their own here; glowops' generic health rules leave them out.
ALERTED_CHECKS: tuple[str, ...] = ("supabase", "openai", "redis")


@dataclass(frozen=True, slots=True)
class PrismaGlowThresholds:
    """The numbers in the pack's rules; the defaults are the spec's where it gives one."""

    queue_depth_warning: float = 1000  # spec: queue depth > 1000
    cache_hit_ratio_warning: float = 0.8  # spec: cache hit rate < 80 %
    auth_failures_per_5m: float = 50
    rls_denials_per_5m: float = 20
    permission_denials_per_5m: float = 100
    rate_limited_per_5m: float = 100  # 429s per route
    indexing_failure_ratio: float = 0.1
    extract_errors_per_15m: float = 10
    approvals_became_overdue_per_1h: float = 5


def alerts(b: RuleBuilder, th: PrismaGlowThresholds) -> tuple[AlertRule, ...]:
    """Every alert of the pack, in the order the docs list them."""
    return (
        _dependencies(b)
        + _cache(b, th)
        + _indexing(b, th)
        + _security(b, th)
        + _approvals(b, th)
        + _rate_limit(b, th)
    )


def _dependencies(b: RuleBuilder) -> tuple[AlertRule, ...]:
    return (
        b.rule(
            "AuthenticationServiceDown",
            "critical",
            "P0",
            "availability",
            'glowops_health_check_up{check="supabase"} == 0',
            for_="2m",
            summary="The authentication service (Supabase Auth) is down",
            description="The Supabase health check (GET /auth/v1/health) has failed for 2 minutes: "
            "users cannot sign in and token refreshes fail.",
            dashboard="operations",
        ),
        b.rule(
            "AssistantProviderUnreachable",
            "warning",
            "P2",
            "availability",
            'glowops_health_check_up{check="openai"} == 0',
            for_="5m",
            summary="The assistant's model provider (OpenAI) is unreachable",
            description="The OpenAI health check has failed for 5 minutes: assistant replies fail or "
            "fall back.",
            dashboard="assistant",
        ),
    )


def _cache(b: RuleBuilder, th: PrismaGlowThresholds) -> tuple[AlertRule, ...]:
    w = b.d("15m")
    return (
        b.rule(
            "CacheHitRateLow",
            "warning",
            "P2",
            "cache",
            f'sum by (cache) (rate(cache_requests_total{{result="hit"}}[{w}]))'
            f" / sum by (cache) (rate(cache_requests_total[{w}])) < {num(th.cache_hit_ratio_warning)}",
            for_="10m",
            summary=f"Cache hit rate below {th.cache_hit_ratio_warning:.0%}",
            description="Fewer look-ups than usual are answered from the cache over 15 minutes: the "
            "cache was flushed, keys expire too early, or Redis is evicting.",
            dashboard="service",
        ),
        b.rule(
            "RedisDown",
            "warning",
            "P1",
            "cache",
            'glowops_health_check_up{check="redis"} == 0',
            for_="2m",
            summary="The service cannot reach Redis",
            description="The Redis health check has failed for 2 minutes: caching and rate limiting "
            "run degraded.",
            dashboard="operations",
        ),
    )


def _indexing(b: RuleBuilder, th: PrismaGlowThresholds) -> tuple[AlertRule, ...]:
    w15, w30 = b.d("15m"), b.d("30m")
    return (
        b.rule(
            "DocumentQueueBacklog",
            "warning",
            "P2",
            "indexing",
            f"max(documents_queue_depth) > {num(th.queue_depth_warning)}",
            for_="10m",
            summary=f"More than {th.queue_depth_warning:g} documents wait for extraction",
            description="The document queue has been deeper than the threshold for 10 minutes: "
            "extraction or indexing cannot keep up.",
            dashboard="documents",
        ),
        b.rule(
            "DocumentIndexingFailures",
            "warning",
            "P2",
            "indexing",
            f'sum(rate(documents_indexed_total{{outcome="failed"}}[{w15}]))'
            f" / sum(rate(documents_indexed_total[{w15}])) > {num(th.indexing_failure_ratio)}",
            for_="10m",
            summary=f"More than {th.indexing_failure_ratio:.0%} of document indexing fails",
            description="Embedding/indexing attempts fail over the last 15 minutes; check the embedding "
            "provider and the pipeline logs.",
            dashboard="documents",
        ),
        b.rule(
            "DocumentExtractErrors",
            "warning",
            "P2",
            "indexing",
            f"sum(increase(documents_extract_errors_total[{w15}])) > {num(th.extract_errors_per_15m)}",
            for_="5m",
            summary="Document text extraction is failing repeatedly",
            description=f"More than {th.extract_errors_per_15m:g} extraction errors in 15 minutes.",
            dashboard="documents",
        ),
        b.rule(
            "DocumentIndexingStalled",
            "warning",
            "P2",
            "indexing",
            f"max(documents_queue_depth) > 0 unless sum(increase(documents_indexed_total[{w30}])) > 0",
            for_="15m",
            summary="Documents are queued but none has been indexed for 30 minutes",
            description="The document queue is not empty and no document was indexed in 30 minutes: the "
            "worker is stuck or stopped.",
            dashboard="documents",
        ),
    )


def _security(b: RuleBuilder, th: PrismaGlowThresholds) -> tuple[AlertRule, ...]:
    w = b.d("5m")
    return (
        b.rule(
            "AuthFailureSpike",
            "warning",
            "P1",
            "security",
            f"sum(increase(security_auth_failed_total[{w}])) > {num(th.auth_failures_per_5m)}",
            for_="1m",
            summary="Spike of failed sign-ins",
            description=f"More than {th.auth_failures_per_5m:g} failed authentication attempts in 5 minutes: "
            "possible credential stuffing. Check the security denials dashboard by reason.",
            dashboard="security",
        ),
        b.rule(
            "RLSDenialSpike",
            "warning",
            "P1",
            "security",
            f"sum(increase(security_rls_denied_total[{w}])) > {num(th.rls_denials_per_5m)}",
            for_="1m",
            summary="Spike of row-level-security denials",
            description=f"More than {th.rls_denials_per_5m:g} RLS refusals in 5 minutes: a client probes "
            "other organisations' rows, or a release broke a policy.",
            dashboard="security",
        ),
        b.rule(
            "PermissionDeniedSpike",
            "info",
            "P3",
            "security",
            f"sum(increase(security_permission_denied_total[{w}])) > {num(th.permission_denials_per_5m)}",
            for_="1m",
            summary="Many permission checks refused",
            description=f"More than {th.permission_denials_per_5m:g} permission denials in 5 minutes; "
            "review roles if this persists.",
            dashboard="security",
        ),
    )


def _approvals(b: RuleBuilder, th: PrismaGlowThresholds) -> tuple[AlertRule, ...]:
    return (
        b.rule(
            "ApprovalsOverdue",
            "warning",
            "P2",
            "approvals",
            "max by (org_id) (approvals_overdue) > 0",
            for_="15m",
            summary="Approvals are past their SLA",
            description="Approvals of this organisation have been pending past their due time for 15 "
            "minutes; remind the approvers.",
            dashboard="approvals",
        ),
        b.rule(
            "ApprovalsBecomingOverdue",
            "info",
            "P3",
            "approvals",
            f"sum(increase(approvals_became_overdue_total[{b.d('1h')}])) > "
            f"{num(th.approvals_became_overdue_per_1h)}",
            for_="0s",
            summary="Many approvals missed their SLA in the last hour",
            description=f"More than {th.approvals_became_overdue_per_1h:g} approvals passed their due time "
            "in one hour.",
            dashboard="approvals",
        ),
    )


def _rate_limit(b: RuleBuilder, th: PrismaGlowThresholds) -> tuple[AlertRule, ...]:
    return (
        b.rule(
            "RateLimitRejections",
            "warning",
            "P2",
            "rate_limit",
            f"sum by (route) (increase(http_rate_limited_total[{b.d('5m')}]))"
            f" > {num(th.rate_limited_per_5m)}",
            for_="5m",
            summary="Clients are being rate limited (429)",
            description=f"More than {th.rate_limited_per_5m:g} requests to this route were refused with 429 "
            "in 5 minutes: an abusive client, a retry storm, or a limit set too low.",
            dashboard="security",
        ),
    )
