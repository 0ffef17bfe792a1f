"""Sample documents for demo traffic: realistic text, CSV and PDF files, and corrupt ones."""

from __future__ import annotations

import random

VENDORS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Litware")
TOPICS = ("invoice", "receipt", "contract", "statement", "purchase order", "expense report")


def make_pdf(text: str) -> bytes:
    """A minimal one-page PDF showing ``text`` in Helvetica (readable by any PDF parser)."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def good_document(rng: random.Random) -> tuple[str, bytes, str]:
    """(filename, bytes, content type) of a valid document."""
    vendor, topic = rng.choice(VENDORS), rng.choice(TOPICS)
    amount = rng.randint(100, 50_000)
    kind = rng.choice(("txt", "csv", "pdf"))
    if kind == "txt":
        text = (
            f"{topic.title()} from {vendor}\nAmount due: {amount} EUR\nReference {rng.randint(1000, 9999)}\n"
        )
        return f"{topic.replace(' ', '-')}.txt", text.encode(), "text/plain"
    if kind == "csv":
        rows = ["vendor,topic,amount"] + [
            f"{vendor},{topic},{rng.randint(10, 5000)}" for _ in range(rng.randint(1, 6))
        ]
        return f"{vendor.lower()}.csv", ("\n".join(rows) + "\n").encode(), "text/csv"
    return (
        f"{vendor.lower()}-{topic.replace(' ', '-')}.pdf",
        make_pdf(f"{topic} {vendor} {amount} EUR"),
        "application/pdf",
    )


def corrupt_document(rng: random.Random) -> tuple[str, bytes, str]:
    """A file whose bytes do not match its declared type."""
    kind = rng.choice(("utf8", "csv", "pdf", "truncated_pdf"))
    if kind == "utf8":
        return "notes.txt", b"caf\xe9 \xff\xfe broken", "text/plain"
    if kind == "csv":
        return "ledger.csv", b"vendor,amount\nNorthwind,10,extra\nContoso\n", "text/csv"
    if kind == "pdf":
        return "scan.pdf", b"this is not a pdf at all", "application/pdf"
    return "scan.pdf", make_pdf("truncated statement")[:60], "application/pdf"
