"""Child process of the escalation crash test: escalate to level 2, then hang until SIGKILLed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from embedded_helpers import Harness, receiver_settings
from test_oncall import Cat


async def main(data_dir: str, url: str, oncall_file: str) -> None:
    h = Harness(receiver_settings(Path(data_dir), url, oncall_file=Path(oncall_file)), catalog=Cat())
    h.metrics.gauge("glowops_disk_used_ratio", 0.9)
    await h.run(16 * 60)  # level 1 at firing, level 2 after 15 minutes
    print("at level 2", flush=True)
    await asyncio.Event().wait()  # the parent kills us here, in the middle of the escalation


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
