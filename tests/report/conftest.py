"""Fixtures for report tests: a signed sample card built once, and helpers to read PDFs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from govern.services import Context, catalogue, keys, reports
from tests.conftest import SAMPLE, Catalogue, make_catalogue
from tests.report.sample_rows import insert_evidence

REF = "credit-risk@1.0.0"


@dataclass
class SignedCard:
    """A catalogue with the sample version, its evidence, a signing key and a signed PDF."""

    url: str
    home: Path
    pdf: Path
    cert: Path
    result: reports.ReportResult
    cat: Catalogue

    def ctx(self, user: str = "admin") -> Context:
        return Context.open(database_url=self.url, user=user, home=self.home)

    @property
    def env(self) -> dict[str, str]:
        return {"GOVERN_HOME": str(self.home), "GOVERN_DATABASE_URL": self.url}


def prepare(url: str, home: Path, *, evidence: bool = True, key: bool = True) -> Catalogue:
    """A new catalogue at ``url``, populated by :func:`populate`."""
    return populate(make_catalogue(url), home, evidence=evidence, key=key)


def populate(cat: Catalogue, home: Path, *, evidence: bool = True, key: bool = True) -> Catalogue:
    """The sample 1.0.0 card, evidence rows and a signing key under ``home``.

    The catalogue's contexts are replaced by ones that name ``home`` explicitly, so the
    session-wide fixture does not depend on the per-test GOVERN_HOME.
    """
    cat.close()
    cat.contexts = {
        user: Context.open(database_url=cat.url, user=user, home=home)
        for user in ("admin", "alice", "carol", "victor")
    }
    catalogue.register_version(cat.ctx("alice"), SAMPLE / "credit-risk-1.0.0.card.yaml")
    if evidence:
        insert_evidence(cat.ctx(), REF)
    if key:
        keys.init_keys(cat.ctx().settings, common_name="govern test instance")
    return cat


@pytest.fixture(scope="session")
def signed_card(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedCard]:
    base = tmp_path_factory.mktemp("signed-card")
    home = base / "home"
    url = f"sqlite:///{base / 'govern.db'}"
    cat = prepare(url, home)
    pdf = base / "credit-risk-1.0.0.pdf"
    result = reports.build_report(cat.ctx("carol"), REF, output=pdf)
    card = SignedCard(
        url=url,
        home=home,
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
    """The PDF's text as poppler's pdftotext reads it (table layout kept by default)."""
    args = ["pdftotext", "-layout"] if layout else ["pdftotext"]
    if first is not None:
        args += ["-f", str(first)]
    if last is not None:
        args += ["-l", str(last)]
    return subprocess.run(
        [*args, str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def pdfsig(path: Path) -> str:
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True)
    return done.stdout + done.stderr


def page_count(path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(str(path)).pages)


def embedded_files(path: Path) -> dict[str, bytes]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return {name: b"".join(data) for name, data in reader.attachments.items()}
