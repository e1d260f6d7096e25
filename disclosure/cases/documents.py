"""What an uploaded document really is, decided from its bytes: a clean PDF, a sane image, or plain text.

The name and the browser's Content-Type are never trusted. A PDF must begin with %PDF-, parse with pypdf, and
carry no encryption and no active content; an image must decode within a pixel budget (decompression bombs);
plain text must be UTF-8 without control characters. Anything else is refused with a reason a person can act on.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from disclosure.services import ServiceError

#: Pixel budget for images: an A4 page scanned at 600 dpi is about 35 million pixels.
MAX_IMAGE_PIXELS = 60_000_000
ACTIVE_PDF_KEYS = (
    b"/JavaScript",
    b"/JS",
    b"/OpenAction",
    b"/Launch",
    b"/EmbeddedFile",
    b"/EmbeddedFiles",
    b"/RichMedia",
    b"/AA",
    b"/SubmitForm",
    b"/ImportData",
    b"/XFA",
)
HTML_MARKERS = re.compile(rb"<\s*(?:!doctype|html|script|body|iframe|svg)\b", re.IGNORECASE)
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
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise DocumentRejected(
                "This PDF is encrypted or password-protected. Ask the sender for an "
                "unprotected copy, or print it to a new PDF."
            )
        pages = len(reader.pages)
        for page in reader.pages:
            page.get_contents()
    except DocumentRejected:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as error:
        raise DocumentRejected(
            "This PDF is damaged or incomplete and cannot be read. Ask the sender for a new copy."
        ) from error
    if pages == 0:
        raise DocumentRejected("This PDF has no pages.")
    found = _active_content(reader, data)
    if found:
        raise DocumentRejected(
            f"This PDF contains active content ({', '.join(found)}), which we do not accept. "
            "Print it to a new PDF and upload that."
        )
    return "application/pdf"


def _active_content(reader: PdfReader, data: bytes) -> list[str]:
    """Names of active-content keys found in the document's objects (and, as a backstop, its raw bytes)."""
    found: set[str] = set()
    root = reader.trailer.get("/Root")
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if item is None:
            continue
        try:
            item = item.get_object() if hasattr(item, "get_object") else item
        except Exception:  # noqa: S112 - a broken reference is not active content
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            for key, value in item.items():
                if key.encode() in ACTIVE_PDF_KEYS:
                    found.add(key)
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    for key in ACTIVE_PDF_KEYS:
        if re.search(re.escape(key) + rb"[\s/<\[(]", data):
            found.add(key.decode())
    return sorted(found)


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
