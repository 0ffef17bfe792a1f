"""The scale-out bundle (``deploy/``): docker-compose, Kubernetes manifests and the configuration
of Prometheus, Alertmanager, Grafana and the OpenTelemetry Collector, rendered from the alert and
dashboard catalogs and :class:`~glowops.settings.Settings` (``glowops deploy render``), and
checked against them (``glowops deploy check``)."""
