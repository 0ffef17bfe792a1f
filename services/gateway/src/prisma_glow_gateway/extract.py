"""Text extraction for the allowed upload types, with a clear error for corrupt files.

Each failure is an :class:`ExtractError` whose ``error_type`` labels
``documents_extract_errors_total`` and whose message tells the user what is wrong.
"""

from __future__ import annotations

import csv
import io

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

ALLOWED_TYPES: dict[str, str] = {"text/plain": "txt", "text/csv": "csv", "application/pdf": "pdf"}
MAX_PDF_PAGES = 500


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


def extract_pdf(data: bytes) -> str:
    if not data.startswith(b"%PDF-"):
        raise ExtractError("unreadable_pdf", "The file is not a PDF (it does not start with %PDF-).")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise ExtractError("encrypted_pdf", "The PDF is encrypted; upload an unprotected copy.")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise ExtractError("too_many_pages", f"The PDF has more than {MAX_PDF_PAGES} pages.")
        return "\n".join(page.extract_text() or "" for page in reader.pages).strip()
    except ExtractError:
        raise
    except (PdfReadError, PyPdfError):
        raise ExtractError("unreadable_pdf", "The PDF is damaged and cannot be read.") from None
    except Exception:  # a damaged file can make the parser fail anywhere; it is still the file's fault
        raise ExtractError("unreadable_pdf", "The PDF is damaged and cannot be read.") from None


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
