"""One PDF extraction in a process of its own, under CPU and memory limits.

``python -m prisma_glow_gateway.extract_worker CPU_SECONDS MEMORY_BYTES MAX_PAGES MAX_PAGE_CONTENT``
reads the PDF on stdin and writes ``{"text": ...}`` or ``{"error_type": ..., "message": ...}`` as
JSON on stdout. The limits are set before the first byte is parsed: past the CPU limit the
kernel ends the process (SIGXCPU), past the memory limit allocations fail.
"""

from __future__ import annotations

import resource
import sys

import orjson


def main(argv: list[str]) -> int:
    cpu, memory, pages, content = (int(arg) for arg in argv)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    data = sys.stdin.buffer.read()
    from prisma_glow_gateway.extract import ExtractError, ExtractLimits, extract_pdf

    limits = ExtractLimits(
        cpu_seconds=cpu, memory_bytes=memory, max_pages=pages, max_page_content_bytes=content
    )
    try:
        answer: dict[str, str] = {"text": extract_pdf(data, limits)}
    except ExtractError as err:
        answer = {"error_type": err.error_type, "message": err.message}
    sys.stdout.buffer.write(orjson.dumps(answer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
