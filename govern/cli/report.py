"""``govern report`` (signed PDF, HTML, Markdown or JSON model cards) and ``govern verify``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from govern.cli import output, runtime


def report(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, or NAME for its latest version.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="pdf (signed), html, md (Hugging Face) or json; default from the -o "
            "file's extension, else pdf.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write it (default NAME-VERSION.EXT here)."),
    ] = None,
    no_sign: Annotated[
        bool, typer.Option("--no-sign", help="Do not sign the PDF (for drafts).")
    ] = False,
    paper: Annotated[str, typer.Option("--paper", help="A4 or Letter.")] = "A4",
    json_out: Annotated[
        bool, typer.Option("--json", help="Print what was written as JSON.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing regular file (never a link or device)."),
    ] = False,
) -> None:
    """Generate the model card of a version: a signed PDF by default.

    The PDF carries a PAdES signature made with the organisation's card-signing key (`govern
    keys org init`; GOVERN_ORG_KEY_DIR) and the card's data as an attached JSON file, whose
    hash is recorded in the catalogue. It lists every decision with who took it, their key
    and whether its signature verified. A signed card is refused (exit 1) when the version's
    records fail verification.

    The output must be a new file (or, with --force, an existing regular file): never a
    link, device or directory.
    """
    from govern.errors import InputError
    from govern.services import reports

    if fmt is None:
        suffix = out.suffix.lower() if out is not None else ""
        fmt = {".html": "html", ".htm": "html", ".md": "md", ".json": "json"}.get(suffix, "pdf")
    fmt = fmt.lower()
    if fmt not in {"pdf", "html", "md", "json"}:
        raise InputError(f"unknown --format {fmt!r}: use pdf, html, md or json")
    paper_size = {"a4": "A4", "letter": "Letter"}.get(paper.lower())
    if paper_size is None:
        raise InputError(f"unknown --paper {paper!r}: use A4 or Letter")
    result = reports.build_report(
        runtime.context(),
        ref,
        format=fmt,  # type: ignore[arg-type]
        output=out,
        sign=not no_sign,
        paper=paper_size,  # type: ignore[arg-type]
        force=force,
    )
    for warning in result.warnings:
        output.info(f"warning: {warning}")
    if json_out:
        output.emit_json(result.to_json())
        return
    signed = (
        f", signed by {result.signer}"
        if result.signed
        else (", not signed" if result.format == "pdf" else "")
    )
    output.line(f"Wrote {result.format.upper()} card for {result.ref} to {result.path}{signed}.")
    output.line(f"SHA-256 {result.sha256}; card data SHA-256 {result.card_sha256}.")


def verify(
    file: Annotated[Path, typer.Argument(help="The signed model card PDF.")],
    trust: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust",
            help="Also trust the certificates in this file (PEM bundle or DER), e.g. the "
            "output of `govern keys org export`; repeatable.",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Verify a signed model card: exit 0 if intact and trusted, 1 otherwise (with why).

    Checks the signature, that nothing changed after signing, the signer's certificate
    against the catalogue's organisation certificates (a revoked one fails the card),
    GOVERN_TRUSTED_CERTIFICATES and --trust, re-checks every decision the card lists
    against the signed event it carries (offline: no catalogue needed), and compares the
    embedded card data with the catalogue when one is available (otherwise "not checked").
    """
    from govern.report.decisions import short_key
    from govern.services import reports

    verdict = reports.verify_pdf(runtime.context(), file, trust=list(trust or []))
    if json_out:
        output.emit_json(verdict.to_json())
    else:
        signer = verdict.signer.get("subject", "unknown") if verdict.signer else "nobody"
        rows = [
            ("file", verdict.path),
            ("verdict", "INTACT AND TRUSTED" if verdict.ok else "NOT VERIFIED"),
            ("signed by", signer if verdict.signed else "not signed"),
            (
                "certificate",
                verdict.signer.get("fingerprint_sha256", "–") if verdict.signer else "–",
            ),
            ("organisation key", verdict.organisation),
            (
                "signed at",
                f"{verdict.signed_at.isoformat()} (the signer's clock: no timestamp authority)"
                if verdict.signed_at
                else "–",
            ),
            ("integrity", "intact" if verdict.intact else "NOT intact"),
            ("changed since", "yes" if verdict.modified_after_signing else "no"),
            ("trusted", "yes" if verdict.trusted else "no"),
            ("model", verdict.ref or "–"),
            ("decisions", verdict.decisions_summary),
            ("catalogue", f"{verdict.catalogue}: {verdict.catalogue_detail}"),
        ]
        output.fields(rows)
        for decision in verdict.decisions:
            who = (
                f"{decision.display_name} ({decision.actor})"
                if decision.display_name and decision.display_name != decision.actor
                else decision.actor
            )
            key = f", key {short_key(decision.key)}" if decision.key else ""
            status = "NOT VERIFIED" if decision.status == "not verified" else decision.status
            output.line(
                f"  {decision.index}. {decision.action.replace('_', ' ')} by {who}"
                f"{' (' + decision.role + ')' if decision.role else ''}{key}: "
                f"{status}"
            )
        for problem in verdict.problems:
            output.info(f"problem: {problem}")
    if not verdict.ok:
        raise typer.Exit(1)


def add_commands(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("verify")(verify)
