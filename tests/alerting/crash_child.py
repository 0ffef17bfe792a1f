"""Child process of the crash test: enqueue notifications, start delivering, get SIGKILLed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from embedded_helpers import Harness, receiver_settings


async def main(data_dir: str, url: str) -> None:
    h = Harness(receiver_settings(Path(data_dir), url))
    h.metrics.gauge("glowops_disk_used_ratio", 0.95)
    await h.run(7 * 60)  # the receiver holds the first request: the parent kills us meanwhile
    print("not killed", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
