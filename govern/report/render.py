"""One call from a :class:`ReportView` to the bytes of a card in any format.

``pdf``: charts, HTML from the templates, WeasyPrint (PDF/A-3b with ``govern-card.json``
attached), then the PAdES signature. ``html``: the same template, self-contained (styles
inline, charts as data: URIs). ``md`` and ``json``: the exports. Nothing here touches the
catalogue or writes files; the service does both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from govern.report.exports import card_json, card_markdown
from govern.report.signature import CARD_ATTACHMENT, sha256, signer_producer
from govern.report.view import ReportView
from govern.signing import SigningIdentity, describe

Format = Literal["pdf", "html", "md", "json"]
Paper = Literal["A4", "Letter"]
FORMATS: tuple[Format, ...] = ("pdf", "html", "md", "json")


@dataclass
class RenderedCard:
    format: Format
    data: bytes
    card_json: bytes
    signer: str | None = None
    signer_fingerprint: str | None = None
    pdf_variant: str | None = None
    charts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return sha256(self.data)

    @property
    def card_sha256(self) -> str:
        return sha256(self.card_json)


def signing_info(identity: SigningIdentity | None) -> dict[str, Any]:
    if identity is None:
        return {"signed": False}
    info = describe(identity.certificate)
    return {
        "signed": True,
        "subject": info["subject"],
        "issuer": info["issuer"],
        "fingerprint": info["fingerprint_sha256"],
        "algorithm": info["algorithm"],
        "self_signed": info["self_signed"] == "true",
    }


def render_html(
    view: ReportView,
    *,
    template_dir: Path | None = None,
    identity: SigningIdentity | None = None,
    embedded: bytes | None = None,
    paper: Paper = "A4",
    output_format: Format = "html",
) -> tuple[str, list[str]]:
    """The card as HTML from the templates; returns (html, chart keys)."""
    from govern.report.charts import render_charts
    from govern.report.templates import CARD_TEMPLATE, make_environment, render_template

    env = make_environment(template_dir)
    charts = render_charts(view)
    payload = embedded if embedded is not None else card_json(view)
    context = {
        "view": view,
        "model": view.model,
        "card": view.card,
        "ev": view.evaluation,
        "results": view.results,
        "policy": view.policy,
        "decisions": view.decisions,
        "waivers": view.waivers,
        "drift": view.drift,
        "locals": view.local_explanations,
        "charts": charts,
        "signing": signing_info(identity),
        "embedded": {
            "name": CARD_ATTACHMENT,
            "sha256": sha256(payload),
            "attached": output_format == "pdf",
        },
        "paper": paper,
        "output_format": output_format,
    }
    html = render_template(env, CARD_TEMPLATE, context, user_dir=template_dir)
    return html, list(charts)


def render_card(
    view: ReportView,
    fmt: Format,
    *,
    identity: SigningIdentity | None = None,
    template_dir: Path | None = None,
    paper: Paper = "A4",
    pdf_variant: str | None = "pdf/a-3b",
    progress: Callable[[str], None] | None = None,
) -> RenderedCard:
    """Render ``view`` as ``fmt``; a PDF is signed when ``identity`` is given.

    ``progress`` is told each long step as it starts (the console shows them).
    """
    step = progress or (lambda _name: None)
    document = card_json(view)
    if fmt == "json":
        return RenderedCard(format=fmt, data=document, card_json=document)
    if fmt == "md":
        return RenderedCard(
            format=fmt, data=card_markdown(view).encode("utf-8"), card_json=document
        )
    step("rendering the HTML and charts")
    html, chart_keys = render_html(
        view,
        template_dir=template_dir,
        identity=identity if fmt == "pdf" else None,
        embedded=document,
        paper=paper,
        output_format=fmt,
    )
    if fmt == "html":
        return RenderedCard(
            format=fmt, data=html.encode("utf-8"), card_json=document, charts=chart_keys
        )
    from govern.report.pdf import Attachment, render_pdf
    from govern.report.signature import sign_pdf

    step("laying out the PDF")
    pdf, log = render_pdf(
        html,
        attachments=(
            Attachment(
                name=CARD_ATTACHMENT,
                data=document,
                description=f"Model card data for {view.model.ref} (govern, MCT-style JSON)",
            ),
        ),
        variant=pdf_variant,
        producer=signer_producer() if identity is not None else None,
    )
    warnings = [f"refused to load {url}" for url in log.refused]
    rendered = RenderedCard(
        format=fmt,
        data=pdf,
        card_json=document,
        charts=chart_keys,
        warnings=warnings,
        pdf_variant=pdf_variant,
    )
    if identity is not None:
        step("signing")
        rendered.data = sign_pdf(
            pdf,
            identity,
            reason=f"Model card for {view.model.ref} issued by govern",
        )
        rendered.signer = identity.subject
        rendered.signer_fingerprint = identity.fingerprint
    return rendered


__all__ = ["FORMATS", "Format", "Paper", "RenderedCard", "render_card", "render_html"]
