"""The Prisma Glow pack for glowops: what the Prisma Glow services add to glowops' catalogs.

The seed's four dashboards (assistant adoption, document pipeline, approvals SLA, security
denials), the metric specs behind them, their alert rules and runbooks. A service registers the
pack; a service that does not gets glowops' generic catalogs only.
"""
