"""Load a service's app from an import string (``package.module:attribute``), as uvicorn does.

The CLI uses it where it needs what a service declared at ``instrument()`` time (its health
checks, its routes) without running it: ``glowops doctor --app myservice.main:app``. A
callable that is not an app is a factory and is called with no arguments.
"""

from __future__ import annotations

import importlib
from typing import Any

from starlette.applications import Starlette


class AppRefError(ValueError):
    """The import string does not name an app; ``str(err)`` is one line for a human."""


def load_app(reference: str) -> Starlette:
    """The app ``reference`` names (``module:attribute``; an app factory is called)."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute or not all(part.isidentifier() for part in attribute.split(".")):
        raise AppRefError(f"{reference!r} is not an app reference like 'myservice.main:app'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise AppRefError(f"cannot import {module_name!r} (from {reference!r}): {err}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AppRefError(f"{module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(target, Starlette) and callable(target):
        target = target()
    if not isinstance(target, Starlette):
        raise AppRefError(f"{reference!r} is a {type(target).__name__}, not a FastAPI or Starlette app")
    return target
