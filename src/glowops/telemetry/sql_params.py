"""SQL parameters and result rows stay out of the logs unless a setting asks for them.

Database drivers log what they run when their loggers are turned up: SQLAlchemy's engine logs
each statement's parameters (``[cached since 2.1s ago] ('jane@example.com', 20)``) and, at
DEBUG, every result row; aiosqlite logs each call with its arguments (``executing
functools.partial(<...execute...>, 'SELECT ...', ('search words',))``). Those are user data
(search words, e-mail addresses, whatever a form held) that no detector can recognise.

:class:`SqlParameterFilter` sits on glowops' log handler (and on the service's own handlers when
glowops joins them) and replaces those arguments by a placeholder; the statements themselves
stay. ``GLOWOPS_LOG_SQL_PARAMETERS=true`` turns it off for local debugging, and a warning
line at start says so.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["HIDDEN", "SqlParameterFilter"]

HIDDEN = "[SQL parameters hidden; GLOWOPS_LOG_SQL_PARAMETERS=true shows them]"
_ROW_HIDDEN = "[result row hidden; GLOWOPS_LOG_SQL_PARAMETERS=true shows it]"
_AIOSQLITE_CALLS = frozenset({"executing %s", "operation %s completed"})


class SqlParameterFilter(logging.Filter):
    """Replaces the parameter and row arguments of SQL driver log records (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name.startswith("sqlalchemy.engine"):
            _sqlalchemy(record)
        elif name.startswith("aiosqlite"):
            _aiosqlite(record)
        return True


def _sqlalchemy(record: logging.LogRecord) -> None:
    msg, args = record.msg, record.args
    if not isinstance(msg, str) or not isinstance(args, tuple):
        return
    # "[%s] %r" (stats, parameters): the line after each statement; "Row %r": a result row.
    if msg.startswith("[") and msg.endswith("%r") and len(args) == 2:
        record.args = (args[0], _Shown(HIDDEN))
    elif msg.startswith("Row ") and len(args) == 1:
        record.args = (_Shown(_ROW_HIDDEN),)


def _aiosqlite(record: logging.LogRecord) -> None:
    if record.msg in _AIOSQLITE_CALLS and isinstance(record.args, tuple) and len(record.args) == 1:
        record.args = (_Shown(_call_name(record.args[0])),)


def _call_name(function: Any) -> str:
    """``execute(...)`` for ``functools.partial(<built-in method execute ...>, sql, params)``."""
    inner = getattr(function, "func", function)
    return f"{getattr(inner, '__name__', type(inner).__name__)}(...)"


class _Shown(str):
    """A string whose ``repr`` is itself (the records format it with ``%r``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)
