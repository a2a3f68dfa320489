"""Fixtures for report tests: a signed sample card built once, and helpers to read PDFs.

Cards are signed with the organisation's key (``keys.org_init`` by an admin), kept under the
catalogue's ``home`` (``<home>/keys``); every person acts with their own enrolled key
(``tests.conftest.key_dir``). The evidence a card shows is recorded with signed audit events
(``sample_rows.insert_evidence``), so the version's records verify and a card can be signed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tests.conftest as shared
from govern.services import Context, catalogue, keys, reports
from tests.conftest import CAST, SAMPLE, Catalogue, key_dir, make_catalogue
from tests.report.sample_rows import DECIDERS, add_deciders, insert_evidence

REF = "credit-risk@1.0.0"
#: Everyone who acts in the report tests' catalogues.
PEOPLE = ("admin", *CAST, *DECIDERS)


@dataclass
class SignedCard:
    """A catalogue with the sample version, its evidence, a signing key and a signed PDF."""

    url: str
    home: Path
    people: Path
    pdf: Path
    cert: Path
    result: reports.ReportResult
    cat: Catalogue

    def key_dir(self, user: str) -> Path:
        return self.people / user / "identity"

    def ctx(self, user: str = "admin") -> Context:
        return Context.open(
            database_url=self.url, user=user, home=self.home, key_dir=self.key_dir(user)
        )

    @property
    def env(self) -> dict[str, str]:
        return {"GOVERN_HOME": str(self.home), "GOVERN_DATABASE_URL": self.url}

    def env_for(self, user: str) -> dict[str, str]:
        """The environment of a command run by ``user`` with their key in this catalogue."""
        return {**self.env, "GOVERN_USER": user, "GOVERN_KEY_DIR": str(self.key_dir(user))}


def prepare(url: str, home: Path, *, evidence: bool = True, key: bool = True) -> Catalogue:
    """A new catalogue at ``url``, populated by :func:`populate`."""
    return populate(make_catalogue(url), home, evidence=evidence, key=key)


def populate(cat: Catalogue, home: Path, *, evidence: bool = True, key: bool = True) -> Catalogue:
    """The sample 1.0.0 card, evidence and the organisation's key under ``home``.

    The catalogue's contexts are replaced by ones that name ``home`` and each person's key
    directory explicitly, so the session-wide fixture does not depend on the per-test
    GOVERN_HOME or people directory.
    """
    add_deciders(cat)
    cat.close()
    cat.contexts = {
        user: Context.open(database_url=cat.url, user=user, home=home, key_dir=key_dir(user))
        for user in PEOPLE
    }
    catalogue.register_version(cat.ctx("alice"), SAMPLE / "credit-risk-1.0.0.card.yaml")
    if evidence:
        insert_evidence(cat, REF)
    if key:
        keys.org_init(cat.ctx("admin"), common_name="govern test instance")
    return cat


@pytest.fixture(scope="session")
def signed_card(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedCard]:
    base = tmp_path_factory.mktemp("signed-card")
    home = base / "home"
    people = base / "people"
    url = f"sqlite:///{base / 'govern.db'}"
    with pytest.MonkeyPatch.context() as patch:
        # Session fixtures are made before the per-test environment: make this one's own.
        for name in list(os.environ):
            if name.startswith("GOVERN_") and not name.startswith("GOVERN_TEST_"):
                patch.delenv(name)
        patch.setenv("GOVERN_HOME", str(home))
        patch.setenv("GOVERN_TEST_PEOPLE", str(people))
        patch.setattr(shared, "_PEOPLE", people)  # where tests.conftest.key_dir keeps keys
        cat = prepare(url, home)
        pdf = base / "credit-risk-1.0.0.pdf"
        result = reports.build_report(cat.ctx("carol"), REF, output=pdf)
    card = SignedCard(
        url=url,
        home=home,
        people=people,
        pdf=pdf,
        cert=home / "keys" / "signing-cert.pem",
        result=result,
        cat=cat,
    )
    yield card
    cat.close()


def pdf_text(
    path: Path, *, first: int | None = None, last: int | None = None, layout: bool = True
) -> str:
    """The PDF's text as PDFium reads it (pypdfium2, a dev dependency: no system tool needed).

    Pages ``first``..``last`` (1-based, inclusive) are joined with form feeds, as pdftotext
    does. With ``layout`` (the default) each visual line is one line of text, so a table row
    reads left to right on one line, its columns apart by three spaces; without it, the text
    is in PDFium's reading order. A hyphen PDFium marks as a line-break hyphen is a hyphen.
    :func:`poppler_text` is the same reading by poppler, compared in a cross-check.
    """
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(path))
    try:
        numbers = range((first or 1) - 1, last or len(document))
        return "\f".join(_page_text(document[n], layout=layout) for n in numbers)
    finally:
        document.close()


def _page_text(page: Any, *, layout: bool) -> str:
    textpage = page.get_textpage()
    count = textpage.count_chars()
    text = textpage.get_text_range(0, count)
    if not layout:
        return text.replace("\r\n", "\n").replace("\ufffe", "-\n")
    # PDFium's own lines (its line breaks), each with the box around its glyphs ...
    pieces: list[_Piece] = []
    piece: _Piece | None = None
    for index, char in enumerate(text):
        if char in "\r\n":
            piece = None
            continue
        if piece is None:
            piece = _Piece()
            pieces.append(piece)
        left, bottom, right, top = textpage.get_charbox(index)
        if right > left or top > bottom:
            piece.add(left, bottom, right, top)
        piece.text += "-" if char == "\ufffe" else char
        if char == "\ufffe":  # a hyphen at the end of a line
            piece = None
    # ... gathered into visual lines: those whose middle is within a line's height, top down.
    lines: list[list[_Piece]] = []
    for piece in sorted((p for p in pieces if p.text.strip()), key=lambda p: -p.top):
        middle = (piece.bottom + piece.top) / 2
        line = next((ln for ln in lines if ln[0].bottom <= middle <= ln[0].top), None)
        if line is None:
            lines.append([piece])
        else:
            line.append(piece)
    rows = []
    for line in lines:
        row, end = "", None
        for piece in sorted(line, key=lambda p: p.left):
            if end is not None:  # a gap wider than the text is tall separates columns
                row += " " if piece.left - end < 1.5 * (piece.top - piece.bottom) else "   "
            row, end = row + piece.text.strip(), piece.right
        rows.append(row)
    return "\n".join(rows)


@dataclass
class _Piece:
    text: str = ""
    left: float = float("inf")
    bottom: float = float("inf")
    right: float = float("-inf")
    top: float = float("-inf")

    def add(self, left: float, bottom: float, right: float, top: float) -> None:
        self.left, self.bottom = min(self.left, left), min(self.bottom, bottom)
        self.right, self.top = max(self.right, right), max(self.top, top)


def poppler_text(
    path: Path, *, first: int | None = None, last: int | None = None, layout: bool = True
) -> str:
    """The PDF's text as poppler's pdftotext reads it (a cross-check: needs poppler-utils)."""
    shared.require_tool("pdftotext")
    args = ["pdftotext", "-layout"] if layout else ["pdftotext"]
    if first is not None:
        args += ["-f", str(first)]
    if last is not None:
        args += ["-l", str(last)]
    return subprocess.run(
        [*args, str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def page_image(path: Path, page: int, *, dpi: int = 50) -> Any:
    """Page ``page`` (1-based) as PDFium draws it: an RGB PIL image at ``dpi``."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(path))
    try:
        return document[page - 1].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        document.close()


def poppler_image(path: Path, page: int, directory: Path, *, dpi: int = 50) -> Any:
    """The same page as poppler's pdftoppm draws it (a cross-check: needs poppler-utils)."""
    from PIL import Image

    shared.require_tool("pdftoppm")
    stem = directory / f"poppler-page-{page}"
    subprocess.run(
        [
            *("pdftoppm", "-f", str(page), "-l", str(page), "-r", str(dpi)),
            *("-png", "-singlefile", str(path), str(stem)),
        ],
        check=True,
    )
    return Image.open(f"{stem}.png").convert("RGB")


def pdfsig(path: Path) -> str:
    """Poppler's opinion of the PDF's signatures (a cross-check: needs poppler-utils)."""
    shared.require_tool("pdfsig")
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True)
    return done.stdout + done.stderr


def page_count(path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(str(path)).pages)


def embedded_files(path: Path) -> dict[str, bytes]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return {name: b"".join(data) for name, data in reader.attachments.items()}
