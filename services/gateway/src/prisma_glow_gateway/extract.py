"""Text extraction for the allowed upload types, with a clear error for corrupt files.

Each failure is an :class:`ExtractError` whose ``error_type`` labels
``documents_extract_errors_total`` and whose message tells the user what is wrong.

Text and CSV cost time linear in their size (itself limited): they are parsed in-process. A
PDF can cost far more than its size says (a few KiB of compressed content stream inflate to
megabytes of drawing operators), so it is parsed once, by the extract stage, in a worker
process (:mod:`prisma_glow_gateway.extract_worker`) under a CPU-time and address-space limit,
with a page budget and a per-page content budget checked before any text is extracted: over
a bound, the document fails with ``too_complex`` and the service never notices.
"""

from __future__ import annotations

import asyncio
import csv
import io
import signal
import sys
from dataclasses import dataclass

import orjson
from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

ALLOWED_TYPES: dict[str, str] = {"text/plain": "txt", "text/csv": "csv", "application/pdf": "pdf"}
MAX_PDF_PAGES = 500


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    """The bounds of one PDF extraction."""

    cpu_seconds: int = 10
    memory_bytes: int = 768 * 1024 * 1024
    max_pages: int = MAX_PDF_PAGES
    max_page_content_bytes: int = 2 * 1024 * 1024


_TOO_COMPLEX = "The PDF is too complex to extract within the service's limits ({what})."


class ExtractError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ExtractError(
            "invalid_utf8", f"The file is not valid UTF-8 text (bad byte at offset {err.start})."
        ) from None
    if "\x00" in text:
        raise ExtractError("binary_content", "The file contains NUL bytes: it is not a text file.")
    return text


def extract_txt(data: bytes) -> str:
    return _decode(data)


def extract_csv(data: bytes) -> str:
    """Rows joined by newlines, cells by tabs; every row must have the header's width."""
    text = _decode(data)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as err:
        raise ExtractError("malformed_csv", f"The CSV cannot be parsed: {err}.") from None
    rows = [row for row in rows if row]
    if not rows:
        raise ExtractError("empty_file", "The CSV has no rows.")
    width = len(rows[0])
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            raise ExtractError(
                "malformed_csv",
                f"The CSV is malformed: row {number} has {len(row)} fields, the header has {width}.",
            )
    return "\n".join("\t".join(row) for row in rows)


def check_pdf_envelope(data: bytes) -> None:
    """The cheap checks of a PDF at the door: its header and its end-of-file marker."""
    if not data.startswith(b"%PDF-"):
        raise ExtractError("unreadable_pdf", "The file is not a PDF (it does not start with %PDF-).")
    if b"%%EOF" not in data[-2048:]:
        raise ExtractError("unreadable_pdf", "The PDF is damaged and cannot be read (it is cut short).")


def extract_pdf(data: bytes, limits: ExtractLimits | None = None) -> str:
    """The PDF's text, in this process: :func:`extract_bounded` runs it in a limited worker."""
    limits = limits or ExtractLimits()
    check_pdf_envelope(data)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise ExtractError("encrypted_pdf", "The PDF is encrypted; upload an unprotected copy.")
        if len(reader.pages) > limits.max_pages:
            raise ExtractError("too_many_pages", f"The PDF has more than {limits.max_pages} pages.")
        texts = []
        for number, page in enumerate(reader.pages, start=1):
            contents = page.get_contents()
            size = len(contents.get_data()) if contents is not None else 0
            if size > limits.max_page_content_bytes:
                raise ExtractError(
                    "too_complex", _TOO_COMPLEX.format(what=f"page {number} draws {size} bytes of content")
                )
            texts.append(page.extract_text() or "")
        return "\n".join(texts).strip()
    except ExtractError:
        raise
    except MemoryError:
        raise ExtractError("too_complex", _TOO_COMPLEX.format(what="memory")) from None
    except (PdfReadError, PyPdfError):
        raise ExtractError("unreadable_pdf", "The PDF is damaged and cannot be read.") from None
    except Exception:  # a damaged file can make the parser fail anywhere; it is still the file's fault
        raise ExtractError("unreadable_pdf", "The PDF is damaged and cannot be read.") from None


def check_upload(content_type: str, data: bytes) -> None:
    """The checks at upload: text and CSV parsed whole (cheap), a PDF's envelope only."""
    if ALLOWED_TYPES.get(content_type) == "pdf":
        check_pdf_envelope(data)
    else:
        extract_text(content_type, data)


async def extract_bounded(content_type: str, data: bytes, limits: ExtractLimits) -> str:
    """The document's text; a PDF is parsed in a worker process under ``limits``."""
    if ALLOWED_TYPES.get(content_type) != "pdf":
        return await asyncio.to_thread(extract_text, content_type, data)
    args = [
        str(limits.cpu_seconds),
        str(limits.memory_bytes),
        str(limits.max_pages),
        str(limits.max_page_content_bytes),
    ]
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "prisma_glow_gateway.extract_worker",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        # The CPU limit ends a busy worker; this deadline ends one that waits (it cannot be
        # reached by CPU work alone: a loaded machine gets a generous multiple).
        out, _ = await asyncio.wait_for(worker.communicate(data), timeout=limits.cpu_seconds * 6 + 30)
    except TimeoutError:
        worker.kill()
        await worker.wait()
        raise ExtractError("too_complex", _TOO_COMPLEX.format(what="time")) from None
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    if worker.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise ExtractError("too_complex", _TOO_COMPLEX.format(what="CPU time"))
    try:
        answer = orjson.loads(out)
    except orjson.JSONDecodeError:
        # Killed otherwise (memory exhausted in C code, a crash): still the document's doing.
        raise ExtractError("too_complex", _TOO_COMPLEX.format(what="memory")) from None
    if "error_type" in answer:
        raise ExtractError(str(answer["error_type"]), str(answer["message"]))
    return str(answer["text"])


def extract_text(content_type: str, data: bytes) -> str:
    """The document's text; :class:`ExtractError` when the bytes do not match the type."""
    kind = ALLOWED_TYPES.get(content_type)
    if kind == "txt":
        return extract_txt(data)
    if kind == "csv":
        return extract_csv(data)
    if kind == "pdf":
        return extract_pdf(data)
    raise ExtractError("unsupported_type", f"Content type {content_type} is not supported.")
