"""Alerting: one rule catalog, exported to Prometheus/Alertmanager and run by the embedded engine.

- :mod:`glowops.alerting.rules`: the catalog (``build_catalog``) and the PromQL subset contract
- :mod:`glowops.alerting.routing`: which channels each severity and family reach
- :mod:`glowops.alerting.rule_tests`: unit-test cases of every rule (promtool format)
- :mod:`glowops.alerting.export`: Prometheus and Alertmanager files (``glowops alerts export``)
"""

from glowops.alerting.rules import (
    AlertRule,
    Catalog,
    Objectives,
    RecordingRule,
    Thresholds,
    build_catalog,
)

__all__ = ["AlertRule", "Catalog", "Objectives", "RecordingRule", "Thresholds", "build_catalog"]
