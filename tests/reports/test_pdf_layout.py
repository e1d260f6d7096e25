"""Every PDF the app writes stays inside its page, renders, and (the transparency report) reads as a table should.

Issue 16 observed on main: the transparency PDF's "Value" header stood left of its right-aligned values, three rows
spilled alone onto page 2, and chart labels were cut ("Subpoena (grand jury, administrat…").
"""

from __future__ import annotations

import pytest

from disclosure.reports.render import bar_chart
from disclosure.reports.transparency import Cell
from tests.reports.pdf_samples import MM, every_pdf, first_page_png, overflowing, words_of

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def pdfs(app):
    with app.app_context():
        return every_pdf(app)


def test_every_pdf_keeps_its_text_inside_the_page_and_renders(pdfs, tmp_path):
    assert set(pdfs) == {
        "letter-approved",
        "letter-rejected",
        "letter-needs_info",
        "letter-no_records",
        "transparency",
        "dossier",
    }
    for name, (pdf, margin) in pdfs.items():
        assert overflowing(pdf, margin) == [], name
        folder = tmp_path / name
        folder.mkdir()
        png = first_page_png(pdf, folder)
        assert png.startswith(PNG_SIGNATURE) and len(png) > 5000, name  # a drawn page, not an empty one


def test_a_letter_fits_on_one_page(pdfs):
    for name in ("letter-approved", "letter-rejected", "letter-needs_info", "letter-no_records"):
        pages, _ = words_of(pdfs[name][0])
        assert len(pages) == 1, name


def test_the_transparency_values_sit_under_their_right_aligned_header_and_nothing_spills(pdfs):
    pdf = pdfs["transparency"][0]
    pages, words = words_of(pdf)
    headers = [w for w in words if w.text == "Value"]
    # The closing note ("Generated 2026-12-07 …") is below the tables, not in them.
    note = min(w.y0 for w in words if w.text == "Generated")
    assert headers
    for header in headers:
        # The values below this header (same column, same page) end where the header ends.
        column = [
            w
            for w in words
            if w.page == header.page
            and header.y1 < w.y0 < min(note, pages[w.page - 1].height - 18 * MM)  # below the header, in the tables
            and abs(w.x1 - header.x1) < 40
            and (w.text[:1].isdigit() or w.text in {"5", "suppressed"})
        ]
        assert column, header
        for word in column:
            assert abs(word.x1 - header.x1) < 1.5, (header, word)
    # The whole report on one page: no section, and no row, left alone on a second one (three rows did on main).
    assert len(pages) == 1


def test_the_transparency_pdf_is_one_page_with_full_chart_labels(pdfs):
    pdf = pdfs["transparency"][0]
    pages, words = words_of(pdf)
    assert len(pages) == 1
    text = " ".join(w.text for w in words)
    assert "\u2026" not in text
    assert "Subpoena (grand jury, administrative, trial)" in text
    assert "European Production Order (Reg. 2023/1543)" in text


def test_a_chart_writes_every_label_in_full_on_as_many_lines_as_it_needs():
    long = "Subpoena (grand jury, administrative, trial) served by a very particular authority"
    svg = str(bar_chart([Cell("process.subpoena", long, 3), Cell("process.search_warrant", "Search warrant", 11)]))
    assert "\u2026" not in svg
    lines = [part.split(">", 1)[1] for part in svg.split("<tspan")[1:]]
    assert " ".join(line.split("<", 1)[0] for line in lines[:-1]) == long
    assert all(len(line.split("<", 1)[0]) <= 34 for line in lines)
