"""The Prisma Glow pack for glowops: what the Prisma Glow services add to glowops' catalogs.

The seed's four dashboards (assistant adoption, document pipeline, approvals SLA, security
denials), the metric specs behind them, their alert rules, promtool test cases and runbooks. A
service registers the pack; a service that does not gets glowops' generic catalogs only::

    import glowops
    from glowops_prismaglow import pack

    glowops.instrument(app, settings, packs=[pack])

or by name, from the installed entry point: ``GLOWOPS_PACKS=prismaglow`` /
``glowops --pack prismaglow alerts export``. Other thresholds: ``make_pack(PrismaGlowThresholds(...))``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from glowops.packs import Pack
from glowops_prismaglow import dashboards, rule_tests, rules
from glowops_prismaglow.metrics import METRICS, SPEC_ALIASES
from glowops_prismaglow.rules import PrismaGlowThresholds

__all__ = ["NAME", "PrismaGlowThresholds", "make_pack", "pack"]

NAME = "prismaglow"
RUNBOOKS = Path(__file__).resolve().parent / "runbooks"
# Where the runbook pages live in the repository that runbook_url links point into.
RUNBOOK_PATH = "packs/prismaglow/src/glowops_prismaglow/runbooks"


def make_pack(thresholds: PrismaGlowThresholds | None = None) -> Pack:
    """The Prisma Glow pack with these thresholds (the spec's defaults when None)."""
    th = thresholds or PrismaGlowThresholds()
    return Pack(
        name=NAME,
        description="Prisma Glow: assistant adoption, document pipeline, approvals SLA, security denials.",
        metrics=METRICS,
        spec_aliases=SPEC_ALIASES,
        families=rules.FAMILIES,
        alerts=partial(rules.alerts, th=th),
        dashboards=dashboards.dashboards,
        rule_tests=partial(rule_tests.rule_tests, th=th),
        runbooks=RUNBOOKS,
        runbook_path=RUNBOOK_PATH,
        alerted_checks=rules.ALERTED_CHECKS,
    )


pack = make_pack()
"""The pack with the default thresholds (the entry point ``prismaglow`` names it)."""
