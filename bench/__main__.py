"""Run every benchmark module in bench/ (``python -m bench``) or the ones named.

Each ``bench/bench_*.py`` exposes ``main(argv: list[str] | None) -> None``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    wanted = sys.argv[1:]
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    for name in names:
        if wanted and name not in wanted and name.removeprefix("bench_") not in wanted:
            continue
        print(f"== {name}")
        importlib.import_module(f"bench.{name}").main([])


if __name__ == "__main__":
    main()
