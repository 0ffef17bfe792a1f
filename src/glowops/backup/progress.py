"""Progress of long operations: a rich progress bar on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Any, TextIO

from glowops.clikit import rich_available


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


human_bytes = _human


class Progress:
    """One task at a time; ``advance`` may be called from any thread.

    ``unit="bytes"`` shows sizes and a rate, ``unit="steps"`` counts items. ``total=None``
    means unknown. Without a terminal a line is logged at most every ``interval`` seconds.
    """

    def __init__(
        self,
        description: str,
        total: float | None = None,
        unit: str = "bytes",
        stream: TextIO | None = None,
        interval: float = 5.0,
        enabled: bool = True,
    ) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.interval = interval
        self.enabled = enabled
        self.done = 0.0
        self._lock = threading.Lock()
        self._last = 0.0
        self._start = 0.0
        self._bar: Any = None
        self._task: Any = None

    def _fmt(self, n: float) -> str:
        return _human(n) if self.unit == "bytes" else f"{n:.0f}"

    def __enter__(self) -> Progress:
        self._start = self._last = time.monotonic()
        if not self.enabled:
            return self
        if self.stream.isatty() and rich_available():  # rich is optional: plain lines without it
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                MofNCompleteColumn,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TransferSpeedColumn,
            )
            from rich.progress import Progress as Bar

            columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
            columns += (
                [DownloadColumn(), TransferSpeedColumn()] if self.unit == "bytes" else [MofNCompleteColumn()]
            )
            columns.append(TimeElapsedColumn())
            self._bar = Bar(*columns, console=Console(file=self.stream), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total)
        else:
            self.stream.write(f"{self.description}: started\n")
            self.stream.flush()
        return self

    def advance(self, amount: float = 1.0, note: str | None = None) -> None:
        with self._lock:
            self.done += amount
            if not self.enabled:
                return
            if self._bar is not None:
                self._bar.update(self._task, advance=amount)
                return
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last = now
                total = f" of {self._fmt(self.total)}" if self.total else ""
                extra = f" ({note})" if note else ""
                self.stream.write(f"{self.description}: {self._fmt(self.done)}{total}{extra}\n")
                self.stream.flush()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.stop()
            return
        seconds = time.monotonic() - self._start
        state = "failed" if exc_type else "done"
        self.stream.write(f"{self.description}: {state}, {self._fmt(self.done)} in {seconds:.1f} s\n")
        self.stream.flush()
