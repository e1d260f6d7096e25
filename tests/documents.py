"""Real documents for upload tests, made with pypdf and Pillow: clean, active, encrypted, broken, bombs."""

from __future__ import annotations

import io

from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject


def pdf(
    *,
    javascript: bool = False,
    open_action: bool = False,
    launch: bool = False,
    attachment: bool = False,
    encrypted: bool = False,
    pages: int = 1,
) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    if javascript:
        action = DictionaryObject(
            {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert('hello');")}
        )
        tree = DictionaryObject({NameObject("/Names"): ArrayObject([TextStringObject("hello"), action])})
        writer._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/JavaScript"): tree})
    if open_action:
        writer._root_object[NameObject("/OpenAction")] = DictionaryObject(
            {NameObject("/S"): NameObject("/URI"), NameObject("/URI"): TextStringObject("https://evil.example")}
        )
    if launch:
        writer._root_object[NameObject("/AA")] = DictionaryObject(
            {
                NameObject("/O"): DictionaryObject(
                    {NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("cmd.exe")}
                )
            }
        )
    if attachment:
        writer.add_attachment("payload.exe", b"MZ not really")
    if encrypted:
        writer.encrypt(user_password="secret", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def png(width: int = 10, height: int = 10) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (width, height), 255).save(buffer, format="PNG")
    return buffer.getvalue()


def pixel_bomb() -> bytes:
    """A tiny PNG that claims 30,000 × 30,000 pixels (900 megapixels) once decoded."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (30_000, 30_000), 0).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
