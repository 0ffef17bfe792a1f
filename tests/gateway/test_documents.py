"""The document pipeline: uploads, extraction of txt/csv/pdf, the state machine, refusals."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import Delta, Gw, sample
from reportlab.pdfgen import canvas

from prisma_glow_gateway.samples import make_pdf


def reportlab_pdf(*lines: str) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for number, line in enumerate(lines):
        pdf.drawString(72, 720 - 20 * number, line)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def post(gw: Gw, doc_id: str, stage: str, org: str = "acme") -> Any:
    return gw.client.post(f"/documents/{doc_id}/{stage}", headers=gw.headers(org, "preparer"))


@pytest.mark.parametrize(
    ("name", "data", "content_type", "expected_text"),
    [
        ("memo.txt", b"Quarterly memo: revenue up 12%\n", "text/plain", "revenue up 12%"),
        ("ledger.csv", b"vendor,amount\nNorthwind,120\nContoso,80\n", "text/csv", "Contoso\t80"),
        (
            "scan.pdf",
            reportlab_pdf("Statement of account", "Balance 4711 EUR"),
            "application/pdf",
            "Balance 4711 EUR",
        ),
    ],
)
def test_full_pipeline_records_every_stage(
    gw: Gw, name: str, data: bytes, content_type: str, expected_text: str
) -> None:
    with Delta() as d:
        uploaded = gw.upload("acme", name, data, content_type)
        assert uploaded.status_code == 201, uploaded.text
        doc = uploaded.json()
        assert doc["status"] == "uploaded" and doc["size_bytes"] == len(data)
        assert sample("documents_queue_depth") >= 1
        extracted = post(gw, doc["id"], "extract")
        assert extracted.status_code == 200 and extracted.json()["status"] == "extracted"
        assert post(gw, doc["id"], "accept").json()["status"] == "accepted"
        assert post(gw, doc["id"], "commit").json()["status"] == "committed"
    assert d("documents_uploaded_total", org_id=gw.orgs["acme"]["id"]) == 1
    for stage in ("upload", "extract", "accept", "commit"):
        assert d("documents_stage_total", stage=stage, outcome="ok") == 1
        assert d("documents_stage_duration_seconds_count", stage=stage) == 1
    assert d("documents_indexed_total", outcome="indexed") == 1
    events = gw.client.get(f"/documents/{doc['id']}/events", headers=gw.headers("acme", "viewer")).json()
    assert [(e["stage"], e["outcome"]) for e in events] == [
        ("upload", "ok"),
        ("extract", "ok"),
        ("accept", "ok"),
        ("commit", "ok"),
    ]
    assert all(e["duration_ms"] >= 0 for e in events)
    # The extracted text is what the assistant searches.
    conv = gw.client.post("/assistant/conversations", json={}, headers=gw.headers("acme", "viewer")).json()
    reply = gw.client.post(
        f"/assistant/conversations/{conv['id']}/messages",
        json={"content": f"search {expected_text}"},
        headers=gw.headers("acme", "viewer"),
    )
    assert name in reply.json()["reply"]["content"]


def test_stored_file_lives_under_the_data_dir(gw: Gw) -> None:
    doc = gw.upload("acme", "a.txt", b"hello storage", "text/plain").json()
    files = list(Path(gw.settings.state_dir).rglob(doc["id"]))
    assert len(files) == 1 and files[0].read_bytes() == b"hello storage"


def test_gauges_follow_the_database(gw: Gw) -> None:
    doc = gw.upload("globex", "g.txt", b"gauge me", "text/plain").json()
    before_uploaded = sample("documents_in_stage", {"stage": "uploaded"})
    before_extracted = sample("documents_in_stage", {"stage": "extracted"})
    post(gw, doc["id"], "extract", org="globex")
    assert sample("documents_in_stage", {"stage": "uploaded"}) == before_uploaded - 1
    assert sample("documents_in_stage", {"stage": "extracted"}) == before_extracted + 1
    assert sample("documents_queue_depth") == sample("documents_in_stage", {"stage": "uploaded"})


@pytest.mark.parametrize(
    ("name", "data", "content_type", "error_type", "words"),
    [
        ("bad.txt", b"caf\xe9 au lait", "text/plain", "invalid_utf8", "not valid UTF-8"),
        ("bad.csv", b"a,b\n1,2,3\n", "text/csv", "malformed_csv", "row 2 has 3 fields"),
        ("quote.csv", b'a,b\n"unterminated,2\n', "text/csv", "malformed_csv", "CSV"),
        ("fake.pdf", b"GIF89a definitely not a pdf", "application/pdf", "unreadable_pdf", "not a PDF"),
        ("cut.pdf", make_pdf("cut short")[:70], "application/pdf", "unreadable_pdf", "damaged"),
        ("empty.txt", b"", "text/plain", "empty_file", "empty"),
    ],
)
def test_corrupt_files_are_rejected_with_a_clear_error(
    gw: Gw, name: str, data: bytes, content_type: str, error_type: str, words: str
) -> None:
    with Delta() as d:
        response = gw.upload("acme", name, data, content_type)
    body = problem(response, 422)
    assert words in body["detail"] and body["error_type"] == error_type
    assert d("documents_stage_total", stage="upload", outcome="rejected") == 1
    if error_type != "empty_file":
        assert d("documents_extract_errors_total", error_type=error_type) == 1
    assert d("documents_uploaded_total", org_id=gw.orgs["acme"]["id"]) == 0


def test_content_type_outside_the_allowlist_is_415(gw: Gw) -> None:
    body = problem(gw.upload("acme", "x.exe", b"MZ\x90\x00", "application/octet-stream"), 415)
    assert "application/octet-stream" in body["detail"] and "application/pdf" in body["detail"]
    problem(gw.upload("acme", "page.html", b"<html></html>", "text/html"), 415)


def test_upload_over_the_size_limit_is_413(gw: Gw, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gw.settings, "upload_max_bytes", 1000)
    body = problem(gw.upload("acme", "big.txt", b"x" * 1001, "text/plain"), 413)
    assert "1000-byte" in body["detail"] and body["max_bytes"] == 1000
    assert gw.upload("acme", "fits.txt", b"x" * 1000, "text/plain").status_code == 201


def test_missing_file_field_is_a_validation_problem(gw: Gw) -> None:
    response = gw.client.post("/documents", headers=gw.headers("acme", "preparer"), data={"other": "x"})
    body = problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["file"]


@pytest.mark.parametrize(
    ("done", "attempt"),
    [
        ((), "accept"),
        ((), "commit"),
        (("extract",), "extract"),
        (("extract",), "commit"),
        (("extract", "accept", "commit"), "accept"),
        (("extract", "accept", "commit"), "extract"),
    ],
)
def test_invalid_transition_is_409(gw: Gw, done: tuple[str, ...], attempt: str) -> None:
    doc = gw.upload("acme", "t.txt", b"transition", "text/plain").json()
    for stage in done:
        assert post(gw, doc["id"], stage).status_code == 200
    with Delta() as d:
        response = post(gw, doc["id"], attempt)
    body = problem(response, 409)
    assert attempt in body["detail"] and body["current_status"] in ("uploaded", "extracted", "committed")
    assert d("documents_stage_total", stage=attempt, outcome="conflict") == 1
    status = gw.client.get(f"/documents/{doc['id']}", headers=gw.headers("acme", "viewer")).json()["status"]
    assert status == body["current_status"]


def test_extraction_failure_marks_the_document_failed(gw: Gw) -> None:
    doc = gw.upload("acme", "later.pdf", make_pdf("fine at upload"), "application/pdf").json()
    stored = next(Path(gw.settings.state_dir).rglob(doc["id"]))
    stored.write_bytes(b"%PDF-1.4\n garbage that lost its objects")  # damaged on disk after upload
    with Delta() as d:
        response = post(gw, doc["id"], "extract")
    assert problem(response, 422)["error_type"] == "unreadable_pdf"
    assert d("documents_extract_errors_total", error_type="unreadable_pdf") == 1
    assert d("documents_stage_total", stage="extract", outcome="failed") == 1
    assert d("documents_indexed_total", outcome="failed") == 1  # read by DocumentIndexingFailures
    after = gw.client.get(f"/documents/{doc['id']}", headers=gw.headers("acme", "viewer")).json()
    assert after["status"] == "failed" and "damaged" in after["error"]
    problem(post(gw, doc["id"], "extract"), 409)  # failed is terminal


def test_viewer_cannot_upload(gw: Gw) -> None:
    with Delta() as d:
        response = gw.upload("acme", "v.txt", b"viewer", "text/plain", role="viewer")
    problem(response, 403)
    assert d("security_permission_denied_total", action="documents:write") == 1


def test_other_orgs_document_is_404_and_recorded(gw: Gw) -> None:
    doc = gw.upload("acme", "secret.txt", b"acme secret plans", "text/plain").json()
    with Delta() as d:
        for path in (f"/documents/{doc['id']}", f"/documents/{doc['id']}/events"):
            response = gw.client.get(path, headers=gw.headers("globex", "admin"))
            assert "acme" not in problem(response, 404)["detail"]
        stolen = gw.client.post(f"/documents/{doc['id']}/extract", headers=gw.headers("globex", "preparer"))
        problem(stolen, 404)
    assert d("security_rls_denied_total", table="documents") == 3
    listed = gw.client.get("/documents", headers=gw.headers("globex", "viewer")).json()
    assert doc["id"] not in [item["id"] for item in listed]
    # A missing id is a plain 404 and no security event.
    with Delta() as d:
        problem(
            gw.client.get(
                "/documents/00000000-0000-0000-0000-000000000000", headers=gw.headers("globex", "viewer")
            ),
            404,
        )
    assert d("security_rls_denied_total", table="documents") == 0
    # Acme's own document is untouched by the attempt.
    own = gw.client.get(f"/documents/{doc['id']}", headers=gw.headers("acme", "viewer")).json()
    assert own["status"] == "uploaded"


def pdf_bomb(content_bytes: int = 4_200_000) -> bytes:
    """A small PDF whose one page draws ``content_bytes`` of text operators (Flate-compressed)."""
    import zlib

    content = (b"BT /F1 1 Tf 0 0 Td (a) Tj ET\n" * (content_bytes // 29 + 1))[:content_bytes]
    stream = zlib.compress(content, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
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


def test_a_pdf_bomb_fails_the_document_with_a_clear_reason(gw: Gw) -> None:
    bomb = pdf_bomb()
    assert len(bomb) < 32 * 1024  # small on the wire, 4.2 MB of drawing once inflated
    uploaded = gw.upload("acme", "bomb.pdf", bomb, "application/pdf")
    assert uploaded.status_code == 201, uploaded.text
    with Delta() as d:
        response = post(gw, uploaded.json()["id"], "extract")
    body = problem(response, 422)
    assert body["error_type"] == "too_complex" and "too complex" in body["detail"]
    assert d("documents_extract_errors_total", error_type="too_complex") == 1
    after = gw.client.get(f"/documents/{uploaded.json()['id']}", headers=gw.headers("acme", "viewer")).json()
    assert after["status"] == "failed" and "too complex" in after["error"]
    # The service kept answering.
    assert gw.client.get("/auth/me", headers=gw.headers("acme", "viewer")).status_code == 200


def test_a_pdf_over_the_cpu_bound_fails_and_the_worker_is_ended(
    gw: Gw, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the content budget (raised here), the CPU limit of the worker process is what holds.
    monkeypatch.setattr(gw.settings, "extract_max_page_content_bytes", 1 << 30)
    monkeypatch.setattr(gw.settings, "extract_cpu_seconds", 1)
    uploaded = gw.upload("acme", "slow.pdf", pdf_bomb(8_000_000), "application/pdf")
    with Delta() as d:
        response = post(gw, uploaded.json()["id"], "extract")
    assert problem(response, 422)["error_type"] == "too_complex"
    assert d("documents_extract_errors_total", error_type="too_complex") == 1


def test_a_pdf_is_parsed_once_by_the_extract_stage(gw: Gw) -> None:
    # The door checks the envelope only: a PDF whose body is garbage is accepted at upload
    # and fails once, at extraction (before, it was parsed at both).
    garbage = b"%PDF-1.4\n" + b"1 0 obj << /Kids [ broken " * 100 + b"\n%%EOF\n"
    uploaded = gw.upload("acme", "garbage.pdf", garbage, "application/pdf")
    assert uploaded.status_code == 201, uploaded.text
    with Delta() as d:
        response = post(gw, uploaded.json()["id"], "extract")
    assert problem(response, 422)["error_type"] == "unreadable_pdf"
    assert d("documents_extract_errors_total", error_type="unreadable_pdf") == 1
