"""Defaults of the Grafana export, in a module light enough for ``glowops --help`` to import."""

from __future__ import annotations

DEFAULT_DASHBOARDS_PATH = "/var/lib/grafana/dashboards/glowops"  # the dashboard provider's path
DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"  # the data source's url
