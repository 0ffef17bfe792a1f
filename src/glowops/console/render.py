"""Server-rendered HTML: the Jinja2 environment (autoescaped) and the console's response headers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from glowops.console.alerts import when

TEMPLATES = Path(__file__).parent / "templates"

# Everything the pages need comes from this origin; nothing inline, so an injected string can
# never run. Charts are SVG drawn by console.js; styles are in console.css.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

STATUS_ICONS = {
    # text + symbol + colour: the state never depends on colour alone
    "firing": ("▲", "Firing"),
    "pending": ("◆", "Pending"),
    "resolved": ("✓", "Resolved"),
    "pass": ("✓", "Pass"),
    "warn": ("!", "Warning"),
    "fail": ("✗", "Fail"),
    "unknown": ("?", "Unknown"),
}


def human_age(seconds: float | None) -> str:
    """``3 h 12 min``: an age for humans; ``never`` when unknown."""
    if seconds is None or math.isinf(seconds):
        return "never"
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{int(hours)} h {int(minutes % 60)} min"
    return f"{hours / 24:.1f} days"


def human_bytes(size: float | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover - the loop returns


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["age"] = human_age
    env.filters["bytes"] = human_bytes
    env.globals["status_icons"] = STATUS_ICONS
    return env


ENV = _environment()


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a template into an HTML response with the console's security headers."""
    html = ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
