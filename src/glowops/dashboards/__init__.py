"""Dashboards: one catalog (:mod:`.catalog`) rendered to Grafana JSON and to the ``/ops`` console."""
