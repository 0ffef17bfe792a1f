"""Packs: what a service adds to glowops' generic catalogs (metrics, dashboards, rules, runbooks).

glowops' own catalogs hold what every service has: HTTP RED and SLO burn-rate rules, health
check rules, glowops' pipeline, backups when configured. A pack brings a domain::

    import glowops
    from glowops.packs import Pack
    from glowops.telemetry.catalog import MetricSpec

    pack = Pack(
        name="billing",
        metrics=(MetricSpec("invoices_failed", "counter", "Invoices that failed.", ("reason",),
                            dashboard="billing"),),
        families=("billing",),
        alerts=billing_alerts,            # (RuleBuilder) -> alert rules
        dashboards=billing_dashboards,    # (Catalog, Settings) -> dashboards
        rule_tests=billing_rule_tests,    # (CaseBuilder) -> None: promtool cases per alert
        runbooks=Path(__file__).parent / "runbooks",
    )
    glowops.instrument(app, settings, packs=[pack])   # or glowops.register_pack(pack)

Once registered, the pack's metrics exist on ``/metrics`` (and only then), and the same
generators cover its content: ``glowops alerts export``, the promtool tests, ``glowops
dashboards export``, the generated docs, the ``/ops`` console, ``glowops runbook``.

A pack installed as a distribution declares an entry point, so the CLI and ``GLOWOPS_PACKS``
find it by name::

    [project.entry-points."glowops.packs"]
    billing = "billing_pack:pack"

    glowops --pack billing alerts export --out deploy/prometheus
    GLOWOPS_PACKS=billing glowops dashboards export --out deploy/grafana

The core never imports a pack: packs arrive through this module only.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glowops.telemetry import catalog as metric_catalog
from glowops.telemetry.catalog import MetricSpec, SpecAlias

if TYPE_CHECKING:
    from glowops.alerting.rule_tests import CaseBuilder
    from glowops.alerting.rules import AlertRule, Catalog, RecordingRule, RuleBuilder
    from glowops.dashboards.model import Dashboard
    from glowops.settings import Settings

__all__ = [
    "ENTRY_POINT_GROUP",
    "Pack",
    "PackError",
    "active_packs",
    "available_packs",
    "load_pack",
    "register_pack",
    "registered_packs",
    "unregister_pack",
    "use_packs",
]

ENTRY_POINT_GROUP = "glowops.packs"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")

AlertsFn = Callable[["RuleBuilder"], Iterable["AlertRule"]]
RecordingFn = Callable[["RuleBuilder"], Iterable["RecordingRule"]]
DashboardsFn = Callable[["Catalog", "Settings"], Iterable["Dashboard"]]
RuleTestsFn = Callable[["CaseBuilder"], None]


class PackError(ValueError):
    """A pack that cannot be found, loaded or registered (the message says which and why)."""


@dataclass(frozen=True)
class Pack:
    """A named bundle of metric specs, alert and recording rules, dashboards and runbooks.

    Attributes:
        name: lower-case, ``[a-z][a-z0-9_-]*`` (``GLOWOPS_PACKS`` and ``--pack`` use it).
        description: one line for listings and docs.
        metrics: the pack's metric specs; created on ``/metrics`` when the pack is registered.
        spec_aliases: dotted-name calls whose unit differs from the metric's (milliseconds...).
        families: alert families the pack's rules use (besides glowops' own).
        alerts: builds the alert rules from a :class:`~glowops.alerting.rules.RuleBuilder`
            (which knows the service, scrape job, links and time scale).
        recording: builds recording rules the same way.
        dashboards: builds dashboards from the rule catalog (thresholds are read from the
            rules) and the service's settings.
        rule_tests: adds promtool test cases with a :class:`~glowops.alerting.rule_tests.CaseBuilder`;
            every alert of the pack needs one case where it fires and one where it is quiet.
        runbooks: a folder holding ``alerts/<AlertName>.md`` (and general pages), shown by
            ``glowops runbook``.
        runbook_path: where those pages live in the repository the runbook links point to
            (``runbook_url`` is ``{GLOWOPS_ALERT_RUNBOOK_BASE_URL}/{runbook_path}/alerts/<Alert>.md``).
        alerted_checks: health checks whose alerts the pack writes itself; glowops' generic
            ``CriticalHealthCheckFailing``/``HealthCheckFailing`` leave them out.
    """

    name: str
    description: str = ""
    metrics: tuple[MetricSpec, ...] = ()
    spec_aliases: tuple[SpecAlias, ...] = ()
    families: tuple[str, ...] = ()
    alerts: AlertsFn | None = None
    recording: RecordingFn | None = None
    dashboards: DashboardsFn | None = None
    rule_tests: RuleTestsFn | None = None
    runbooks: Path | None = None
    runbook_path: str = ""
    alerted_checks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise PackError(f"pack name {self.name!r} must match {_NAME.pattern}")
        if self.name == metric_catalog.CORE_OWNER:
            raise PackError(f"pack name {self.name!r} is reserved for glowops itself")
        names = [m.name for m in self.metrics]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise PackError(f"pack {self.name!r} declares metrics twice: {', '.join(twice)}")


_lock = threading.Lock()
_registered: dict[str, Pack] = {}


def register_pack(pack: Pack) -> Pack:
    """Add ``pack`` to this process: its metrics are created, the catalogs include it.

    Registering the same pack again changes nothing; another pack under a taken name, or a pack
    whose metric names clash with glowops' or another pack's, raises :class:`PackError`.
    """
    if not isinstance(pack, Pack):
        raise PackError(f"register_pack() needs a glowops.packs.Pack, got {type(pack).__name__}")
    with _lock:
        known = _registered.get(pack.name)
        if known is pack:
            return pack
        if known is not None:
            raise PackError(f"another pack named {pack.name!r} is already registered")
        try:
            metric_catalog.add_specs(pack.name, pack.metrics, pack.spec_aliases)
        except ValueError as err:
            raise PackError(str(err)) from None
        from glowops.telemetry.metrics import metrics

        metrics.add(pack.metrics)
        _registered[pack.name] = pack
    return pack


def unregister_pack(name: str) -> None:
    """Take a registered pack out again (its metrics leave ``/metrics``); unknown names are fine.

    For tests and tools that compare a process with and without a pack; a service registers
    its packs once at start-up.
    """
    with _lock:
        if _registered.pop(name, None) is None:
            return
        specs = metric_catalog.remove_specs(name)
        from glowops.telemetry.metrics import metrics

        metrics.remove(specs)


def registered_packs() -> tuple[Pack, ...]:
    """The packs registered in this process, in registration order."""
    return tuple(_registered.values())


def available_packs() -> dict[str, metadata.EntryPoint]:
    """Installed packs by name (entry point group ``glowops.packs``)."""
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def load_pack(name: str) -> Pack:
    """The pack called ``name``: registered already, else from its installed entry point."""
    wanted = name.strip()
    if wanted in _registered:
        return _registered[wanted]
    found = available_packs()
    entry = found.get(wanted)
    if entry is None:
        known = ", ".join(sorted(found)) or "none installed"
        raise PackError(f"no glowops pack named {wanted!r} (installed packs: {known})")
    try:
        loaded: Any = entry.load()
    except Exception as err:  # an installed pack that fails to import: say which and why
        raise PackError(f"glowops pack {wanted!r} ({entry.value}) failed to load: {err}") from err
    if callable(loaded) and not isinstance(loaded, Pack):
        loaded = loaded()  # a factory: `prismaglow = "glowops_prismaglow:make_pack"`
    if not isinstance(loaded, Pack):
        raise PackError(f"entry point {entry.value!r} of pack {wanted!r} is not a glowops.packs.Pack")
    if loaded.name != wanted:
        raise PackError(f"entry point {wanted!r} gives a pack named {loaded.name!r}")
    return loaded


def use_packs(packs: Iterable[Pack | str]) -> tuple[Pack, ...]:
    """Register each pack (a :class:`Pack` or an installed pack's name); returns them."""
    return tuple(register_pack(p if isinstance(p, Pack) else load_pack(p)) for p in packs)


def active_packs(settings: Settings | None = None) -> tuple[Pack, ...]:
    """The packs this process uses: those named in ``GLOWOPS_PACKS`` (registered now) and every
    pack registered by code or ``--pack``."""
    if settings is not None and settings.packs:
        use_packs(settings.packs)
    return registered_packs()
