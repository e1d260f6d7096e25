"""Downloads: always an attachment with a safe name, a fixed type, nosniff and a sandbox; never rendered inline."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import quote

from flask import Response

from disclosure.cases.documents import safe_filename


def content_disposition(filename: str) -> str:
    """attachment; filename="ascii"; filename*=UTF-8''percent-encoded — no quote, CR or LF can get through."""
    _stem, dot, extension = filename.rpartition(".")
    cleaned = safe_filename(filename, "." + extension if dot else "")
    ascii_name = cleaned.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


def attachment_response(chunks: Iterable[bytes], filename: str, size: int | None = None) -> Response:
    response = Response(chunks, mimetype="application/octet-stream", direct_passthrough=True)
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if size is not None:
        response.headers["Content-Length"] = str(size)
    return response


def file_attachment(path: Path, filename: str, size: int) -> Response:
    """A stored file (a bundle) as an attachment, streamed in 1 MiB blocks."""

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as handle:
            while block := handle.read(1024 * 1024):
                yield block

    return attachment_response(chunks(), filename, size)
