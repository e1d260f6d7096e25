"""What an uploaded document really is, decided from its bytes: a clean PDF, a sane image, or plain text.

The name and the browser's Content-Type are never trusted. A PDF must begin with %PDF-, parse with pypdf, and
carry no encryption and no active content, judged on its parsed objects by disclosure.cases.pdf_check in a child
process with memory, CPU and time limits (a hostile PDF costs that process, never the server); an image must
decode within a pixel budget (decompression bombs); plain text must be UTF-8 without control characters.
Anything else is refused with a reason a person can act on.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disclosure.cases import pdf_check
from disclosure.services import ServiceError

#: Pixel budget for images: an A4 page scanned at 600 dpi is about 35 million pixels.
MAX_IMAGE_PIXELS = 60_000_000
#: Wall-clock seconds the PDF check may take (it also has its own memory and CPU limits: disclosure.cases.pdf_check).
PDF_CHECK_SECONDS = 30.0
#: The folder holding the disclosure package, so the checker imports this code whatever the working directory.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
HTML_MARKERS = re.compile(rb"<\s*(?:!doctype|html|script|body|iframe|svg)\b", re.IGNORECASE)
log = logging.getLogger(__name__)
EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
    "text/plain": ".txt",
}


class DocumentRejected(ServiceError):
    """The upload is not a document we accept; the message says why and what to send instead."""


@dataclass(frozen=True)
class Inspected:
    content_type: str
    #: A safe name for downloads: the user's stem, sanitised, with the extension of the detected type.
    filename: str


def inspect_document(data: bytes, filename: str) -> Inspected:
    if not data:
        raise DocumentRejected("The file is empty. Choose the scanned or electronic document and upload it again.")
    if data.startswith(b"%PDF-"):
        content_type = _check_pdf(data)
    elif data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")):
        content_type = _check_image(data)
    else:
        content_type = _check_text(data)
    return Inspected(content_type, safe_filename(filename, EXTENSIONS[content_type]))


def _check_pdf(data: bytes) -> str:
    if HTML_MARKERS.search(data[:4096]):
        raise DocumentRejected(
            "This PDF also contains web-page markup (a polyglot file). Print it to a new PDF and upload that."
        )
    verdict = run_pdf_check(data)
    if not verdict.get("ok"):
        raise DocumentRejected(str(verdict.get("reason") or pdf_check.TOO_COMPLEX.format(why="the check failed")))
    return "application/pdf"


def run_pdf_check(data: bytes, *, timeout: float = PDF_CHECK_SECONDS) -> dict[str, Any]:
    """Run disclosure.cases.pdf_check in a child process (its own memory and CPU limits, our wall-clock limit) and
    return its verdict. A child that is killed, times out or answers nonsense is a refusal, never a pass."""
    reason = pdf_check.TOO_COMPLEX.format(why="checking it took too long or needed too much memory")
    too_complex: dict[str, Any] = {"ok": False, "reason": reason}
    # Only what the child needs: hostile input is parsed there, so it gets no secrets from our environment.
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(PACKAGE_ROOT),
        "LC_ALL": "C.UTF-8",
    }
    try:
        child = subprocess.run(  # our own interpreter and module, no shell
            [sys.executable, "-s", "-m", "disclosure.cases.pdf_check"],
            input=data,
            capture_output=True,
            timeout=timeout,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("PDF check: stopped after %.0f s (%d bytes)", timeout, len(data))
        return too_complex
    if child.returncode != 0:
        log.warning("PDF check: the checker ended with status %d (%d bytes)", child.returncode, len(data))
        return too_complex
    try:
        verdict = json.loads(child.stdout)
    except ValueError:
        verdict = None
    if not isinstance(verdict, dict) or not isinstance(verdict.get("ok"), bool):
        log.warning("PDF check: the checker gave no verdict (%d bytes)", len(data))
        return too_complex
    return verdict


def _check_image(data: bytes) -> str:
    from PIL import Image

    # Pillow refuses (DecompressionBombError) images over twice its limit before decoding; below that we check.
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise DocumentRejected(
                    f"The image is {width} × {height} pixels, more than we accept. Scan at 300 dpi or send a PDF."
                )
            image.verify()
            fmt = image.format
    except DocumentRejected:
        raise
    except Image.DecompressionBombError as error:
        raise DocumentRejected(
            f"The image has more than {MAX_IMAGE_PIXELS:,} pixels, more than we accept. Scan at 300 dpi or send a PDF."
        ) from error
    except Exception as error:
        raise DocumentRejected("The image is damaged or not a PNG, JPEG or TIFF. Upload a PDF instead.") from error
    return {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff"}.get(fmt or "", "") or _unsupported()


def _unsupported() -> str:
    raise DocumentRejected("Upload a PDF, a PNG, JPEG or TIFF scan, or a plain-text (UTF-8) file.")


def _check_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _unsupported()
    if any(unicodedata.category(char) == "Cc" and char not in "\r\n\t" for char in text):
        _unsupported()
    return "text/plain"


def safe_filename(filename: str, extension: str) -> str:
    """A name safe in any header or file system: no paths, controls, bidi overrides or odd punctuation."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFKC", name)
    name = "".join(char for char in name if unicodedata.category(char)[0] not in {"C", "Z"} or char == " ")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = re.sub(r"[^\w\- ]+", "_", stem).strip(" ._-")[:80]
    return (stem or "document") + extension


_KINDS = {
    "application/pdf": "a PDF",
    "image/png": "a PNG image",
    "image/jpeg": "a JPEG image",
    "image/tiff": "a TIFF image",
    "text/plain": "plain text",
}
_SAME_EXTENSION = {".jpeg": ".jpg", ".tiff": ".tif"}


def type_note(original_name: str, content_type: str, kept_as: str) -> str | None:
    """A sentence telling the uploader what the file turned out to be, when its name said otherwise."""
    base = original_name.replace("\\", "/").rsplit("/", 1)[-1]
    extension = "." + base.rsplit(".", 1)[1].lower() if "." in base else ""
    if _SAME_EXTENSION.get(extension, extension) == EXTENSIONS[content_type]:
        return None
    kind = _KINDS[content_type]
    if not extension:
        return f"{base} is {kind}; it was kept as {kept_as}."
    return f"{base} is {kind}, not what its name says ({extension}); it was kept as {kept_as}."
