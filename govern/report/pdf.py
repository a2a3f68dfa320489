"""HTML to PDF with WeasyPrint (>= 70), fetching nothing but bundled assets and data: URIs.

Card text is escaped by the templates, so user input cannot add an element that loads
anything; the URL fetcher is the second wall. It answers ``data:`` URIs itself and serves
``file:`` URLs only when they resolve inside the bundled ``report_templates/assets``
directory; every other URL (other files, http, https, ftp...) is refused and recorded, and
nothing is ever sent to the network. (WeasyPrint 70 replaced the ``url_fetcher`` function
with the :class:`weasyprint.urls.URLFetcher` class, whose ``fetch`` method we override.)
"""

from __future__ import annotations

import base64
import binascii
import logging
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit
from urllib.request import url2pathname

from govern.errors import InternalError
from govern.locations import report_templates_dir

#: Files a template may reference by URL from the bundled assets directory.
ASSET_SUFFIXES = frozenset(
    {".css", ".svg", ".png", ".jpg", ".jpeg", ".woff", ".woff2", ".ttf", ".otf"}
)
MAX_DATA_URI_BYTES = 10_000_000
PDF_VARIANT = "pdf/a-3b"


def assets_dir() -> Path:
    return report_templates_dir() / "assets"


@dataclass
class FetchLog:
    """What the fetcher served and refused during one rendering."""

    served: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def make_fetcher(log: FetchLog, allowed_dirs: tuple[Path, ...] | None = None) -> Any:
    """A WeasyPrint URL fetcher that serves only bundled assets and data: URIs."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    roots = tuple(p.resolve() for p in (allowed_dirs or (assets_dir(),)))

    class AssetFetcher(URLFetcher):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(
                timeout=1,
                allowed_protocols={"data", "file"},
                allow_redirects=False,
                fail_on_errors=False,
            )

        def fetch(self, url: str, headers: Any = None) -> Any:
            short = url if len(url) <= 200 else url[:200] + "…"
            scheme = url.split(":", 1)[0].lower() if ":" in url else ""
            if scheme == "data":
                mime, body = _decode_data_uri(url)
                log.served.append(short[:60])
                return URLFetcherResponse(url, body, {"Content-Type": mime})
            if scheme == "file":
                asset = _bundled_asset(url, roots)
                if asset is not None:
                    log.served.append(url)
                    mime = mimetypes.guess_type(asset.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(url, asset.read_bytes(), {"Content-Type": mime})
            log.refused.append(short)
            raise ValueError(
                f"refused to fetch {short}: model cards load only bundled assets and data: URIs"
            )

    return AssetFetcher()


def _decode_data_uri(url: str) -> tuple[str, bytes]:
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise ValueError("malformed data: URI")
    if len(payload) > MAX_DATA_URI_BYTES * 4 // 3 + 4:
        raise ValueError("data: URI too large")
    parts = header.split(";")
    mime = parts[0].strip() or "text/plain"
    if "base64" in (p.strip().lower() for p in parts[1:]):
        try:
            body = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            raise ValueError("malformed base64 in data: URI") from None
    else:
        body = unquote_to_bytes(payload)
    return mime, body


def _bundled_asset(url: str, roots: tuple[Path, ...]) -> Path | None:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        return None
    try:
        path = Path(url2pathname(parts.path)).resolve()
    except (OSError, ValueError):
        return None
    if path.suffix.lower() not in ASSET_SUFFIXES or not path.is_file():
        return None
    return path if any(path.is_relative_to(root) for root in roots) else None


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    data: bytes
    description: str
    mime: str = "application/json"


def render_pdf(
    html: str,
    *,
    attachments: tuple[Attachment, ...] = (),
    variant: str | None = PDF_VARIANT,
    producer: str | None = None,
) -> tuple[bytes, FetchLog]:
    """Render ``html`` to PDF bytes (PDF/A-3b by default) with files attached.

    ``producer`` replaces the Info dictionary's Producer. The signer passes pyHanko's name:
    pyHanko's incremental update rewrites the XMP Producer to its own name and only
    *appends* to an Info Producer that lacks it, which would leave the two disagreeing,
    and PDF/A requires them to agree.

    Returns the PDF and what the URL fetcher served and refused.
    """
    import pydyf
    import weasyprint

    _quiet_weasyprint()
    log = FetchLog()
    fetcher = make_fetcher(log)
    files = [
        weasyprint.Attachment(
            string=a.data,
            name=a.name,
            description=a.description,
            relationship="Data",
            url_fetcher=fetcher,
        )
        for a in attachments
    ]
    document = weasyprint.HTML(
        string=html, base_url=assets_dir().resolve().as_uri() + "/", url_fetcher=fetcher
    )

    def finish(_document: Any, pdf: Any) -> None:
        if producer is not None:
            pdf.info["Producer"] = pydyf.String(producer)
        # WeasyPrint 70 lists each attachment twice in the catalogue's /AF (associated
        # files) array for PDF/A-3; one entry per file is what the standard describes.
        associated = pdf.catalog.get("AF")
        if associated is not None:
            unique = list(dict.fromkeys(associated))
            if len(unique) != len(associated):
                pdf.catalog["AF"] = pydyf.Array(unique)

    pdf = document.write_pdf(pdf_variant=variant, attachments=files, finisher=finish)
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf without target returns bytes
        raise InternalError("WeasyPrint returned no PDF")
    return pdf, log


def _quiet_weasyprint() -> None:
    """Keep WeasyPrint's warnings (refused URLs, unsupported CSS) off the user's terminal.

    Refused URLs are reported through :class:`FetchLog` instead.
    """
    for name in ("weasyprint", "weasyprint.progress", "fontTools"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


__all__ = ["Attachment", "FetchLog", "assets_dir", "make_fetcher", "render_pdf"]
