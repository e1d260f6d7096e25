"""PDF rendering with WeasyPrint behind a URL fetcher that refuses everything (or, for reports, all but our
own static files and data: URLs). WeasyPrint's default fetcher follows file: and http: and could embed local
files into a document; ours never reaches the network or the file system outside disclosure/static.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

STATIC_ROOT = (Path(__file__).parent / "static").resolve()
STATIC_PREFIX = "disclosure-static:/"


class RefusedURL(FatalURLFetchingError):
    """The document asked for a resource it may not load."""


class DenyAllFetcher(URLFetcher):
    """Letters load nothing: every URL is refused and the attempt is remembered for tests and logs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        self.refused.append(url)
        raise RefusedURL(f"refused to load {url[:100]!r}")


class StaticOnlyFetcher(DenyAllFetcher):
    """Reports may use our own static files (by the disclosure-static:/ scheme) and data: URLs, nothing else."""

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if url.startswith("data:"):
            return super(DenyAllFetcher, self).fetch(url, headers)
        if url.startswith(STATIC_PREFIX):
            path = (STATIC_ROOT / url[len(STATIC_PREFIX) :]).resolve()
            if path.is_file() and path.is_relative_to(STATIC_ROOT):
                return URLFetcherResponse(url, body=path.read_bytes())
        return super().fetch(url, headers)


def render_pdf(html: str, fetcher: DenyAllFetcher | None = None, **options: Any) -> bytes:
    """The document as PDF bytes; `options` go to write_pdf (e.g. pdf_variant="pdf/a-3b")."""
    return HTML(string=html, base_url=None, url_fetcher=fetcher or DenyAllFetcher()).write_pdf(**options)
