"""promtool test cases for the Prisma Glow pack's alerts (glowops renders and runs them with its own).

Every alert of the pack has a case where it fires and one where it is quiet or has resolved;
glowops checks the coverage when it writes the promtool files.
"""

from __future__ import annotations

import math

from glowops.alerting.rule_tests import CaseBuilder, hold, ramp
from glowops_prismaglow.rules import PrismaGlowThresholds


def rule_tests(c: CaseBuilder, th: PrismaGlowThresholds) -> None:
    """Add the pack's cases to ``c``."""
    c.health_check_story("supabase", "AuthenticationServiceDown", critical=True)
    c.health_check_story("openai", "AssistantProviderUnreachable", critical=False)
    c.health_check_story("redis", "RedisDown", critical=False)
    _gauges(c, th)
    _counters(c, th)


def _gauges(c: CaseBuilder, th: PrismaGlowThresholds) -> None:
    c.add(
        "document queue deeper than the threshold from 5m to 24m",
        [
            c.s("documents_queue_depth", hold((5, 0), (20, th.queue_depth_warning * 1.5), (6, 10))),
        ],
        [
            c.quiet("10m", "DocumentQueueBacklog"),
            c.fire("20m", "DocumentQueueBacklog"),
            c.quiet("28m", "DocumentQueueBacklog"),
        ],
    )
    c.add(
        "approvals of one organisation overdue from 5m to 35m",
        [
            c.s("approvals_overdue", hold((5, 0), (31, 3), (6, 0)), org_id="org-a"),
            c.s("approvals_overdue", hold((42, 0)), org_id="org-b"),
        ],
        [
            c.quiet("15m", "ApprovalsOverdue"),
            c.fire("25m", "ApprovalsOverdue", {"org_id": "org-a"}),
            c.quiet("40m", "ApprovalsOverdue"),
        ],
    )
    low = math.floor(th.cache_hit_ratio_warning * 75)
    high = math.ceil((1 + th.cache_hit_ratio_warning) / 2 * 100)
    c.add(
        f"the answers cache hits {low}% until 30m, the embeddings cache {high}%",
        [
            c.s("cache_requests_total", ramp((30, low), (30, 100)), cache="answers", result="hit"),
            c.s("cache_requests_total", ramp((30, 100 - low), (30, 0)), cache="answers", result="miss"),
            c.s("cache_requests_total", ramp((60, high)), cache="embeddings", result="hit"),
            c.s("cache_requests_total", ramp((60, 100 - high)), cache="embeddings", result="miss"),
        ],
        [
            c.quiet("5m", "CacheHitRateLow"),
            c.fire("25m", "CacheHitRateLow", {"cache": "answers"}),
            c.quiet("50m", "CacheHitRateLow"),
        ],
    )


def _counters(c: CaseBuilder, th: PrismaGlowThresholds) -> None:
    c.spike(
        "failed sign-ins spike from 10m to 20m",
        "AuthFailureSpike",
        "security_auth_failed_total",
        {"reason": "bad_password"},
        th.auth_failures_per_5m,
    )
    c.spike(
        "RLS denials spike from 10m to 20m",
        "RLSDenialSpike",
        "security_rls_denied_total",
        {"table": "documents"},
        th.rls_denials_per_5m,
    )
    c.spike(
        "permission denials spike from 10m to 20m",
        "PermissionDeniedSpike",
        "security_permission_denied_total",
        {"action": "approve"},
        th.permission_denials_per_5m,
    )
    c.spike(
        "extraction errors from 10m to 35m",
        "DocumentExtractErrors",
        "documents_extract_errors_total",
        {"error_type": "ocr"},
        th.extract_errors_per_15m,
        window=15,
        steps=25,
    )
    c.spike(
        "approvals become overdue from 10m to 30m",
        "ApprovalsBecomingOverdue",
        "approvals_became_overdue_total",
        {"severity": "high"},
        th.approvals_became_overdue_per_1h,
        window=60,
        steps=20,
    )

    per_step = math.ceil(3 * th.rate_limited_per_5m / 5)
    c.add(
        "one route rate limited from 10m to 30m",
        [
            c.s(
                "http_rate_limited_total", ramp((10, 0), (20, per_step), (20, 0)), route="/v1/assistant/chat"
            ),
            c.s("http_rate_limited_total", ramp((50, 1)), route="/v1/documents"),
        ],
        [
            c.quiet("10m", "RateLimitRejections"),
            c.fire("24m", "RateLimitRejections", {"route": "/v1/assistant/chat"}),
            c.quiet("40m", "RateLimitRejections"),
        ],
    )

    failing = max(1, math.ceil(min(2 * th.indexing_failure_ratio, 0.9) * 100))
    c.add(
        f"{failing}% of indexing fails from 10m to 40m",
        [
            c.s(
                "documents_indexed_total", ramp((10, 100), (30, 100 - failing), (30, 100)), outcome="indexed"
            ),
            c.s("documents_indexed_total", ramp((10, 0), (30, failing), (30, 0)), outcome="failed"),
        ],
        [
            c.quiet("15m", "DocumentIndexingFailures"),
            c.fire("35m", "DocumentIndexingFailures"),
            c.quiet("65m", "DocumentIndexingFailures"),
        ],
    )

    c.add(
        "indexing stops at 20m with documents queued; the queue empties at 76m",
        [
            c.s("documents_queue_depth", hold((76, 5), (10, 0))),
            c.s("documents_indexed_total", ramp((20, 10), (65, 0)), outcome="indexed"),
        ],
        [
            c.quiet("40m", "DocumentIndexingStalled"),
            c.fire("70m", "DocumentIndexingStalled"),
            c.quiet("80m", "DocumentIndexingStalled"),
        ],
    )
