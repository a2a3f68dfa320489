"""PAdES signatures on model cards with pyHanko: sign, read the embedded card, check.

Signing makes a PAdES baseline B-B *certification* signature (``ETSI.CAdES.detached``,
DocMDP "no changes"), as an incremental update over the rendered PDF, which already carries
the card's JSON as an attached file; so the signature covers the attachment too.

Checking follows ``../shared/notes/measurements.md``: the decision rests on pyHanko's
``bottom_line`` plus our own stricter reading (the signature must cover the whole file:
*any* update after signing is reported), and any exception while reading or validating
means "not intact", never a crash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from govern.errors import SignatureError
from govern.signing import SigningIdentity, describe

if TYPE_CHECKING:
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
    from pyhanko.sign.validation.status import PdfSignatureStatus

FIELD_NAME = "GovernSignature"
CARD_ATTACHMENT = "govern-card.json"


def signer_producer() -> str:
    """The Producer name pyHanko writes into the document when it signs."""
    from pyhanko.pdf_utils.metadata.model import VENDOR

    return str(VENDOR)


def sign_pdf(pdf: bytes, identity: SigningIdentity, *, reason: str, location: str = "") -> bytes:
    """Sign ``pdf`` (PAdES B-B certification signature) and return the signed bytes."""
    from pyhanko.keys.internal import (
        translate_pyca_cryptography_cert_to_asn1,
        translate_pyca_cryptography_key_to_asn1,
    )
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    certificate = translate_pyca_cryptography_cert_to_asn1(identity.certificate)
    chain = [translate_pyca_cryptography_cert_to_asn1(c) for c in identity.chain]
    signer = signers.SimpleSigner(
        signing_cert=certificate,
        signing_key=translate_pyca_cryptography_key_to_asn1(identity.key),
        cert_registry=SimpleCertificateStore.from_certs([certificate, *chain]),  # type: ignore[no-untyped-call]
    )
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
        reason=reason,
        location=location or None,
        signer_key_usage={"digital_signature"},
    )
    _quiet_pyhanko()
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        output = _pdfa3_signer(metadata, signer).sign_pdf(writer)
    except Exception as exc:  # pyHanko raises many types; all mean "could not sign"
        raise SignatureError(f"could not sign the model card: {exc}") from None
    return bytes(output.getvalue())


def _pdfa3_signer(metadata: Any, signer: Any) -> Any:
    """A pyHanko ``PdfSigner`` that keeps PDF/A-3's PDF 1.7 (defined here: pyHanko is lazy)."""
    from pyhanko.sign.signers import PdfSigner
    from pyhanko.sign.signers.constants import ESIC_EXTENSION_1

    class PdfA3Signer(PdfSigner):
        """A PAdES signer that keeps the document at PDF 1.7, as PDF/A-3 requires.

        For an ECDSA key on a curve named in ISO 32002 (P-256 among them) pyHanko also
        declares that PDF 2.0 extension, which raises the catalogue's /Version to 2.0: a
        PDF/A-3 file (ISO 19005-3 is based on PDF 1.7) would then claim to be PDF 2.0.
        ECDSA signatures are valid in PDF 1.7 under PAdES (the ESIC extension, which we
        keep), and readers and validators accept them without the ISO 32002 declaration.
        """

        def register_extensions(self, pdf_out: Any, *, md_algorithm: str) -> None:
            pdf_out.ensure_output_version(version=(1, 7))
            if pdf_out.output_version < (2, 0):
                pdf_out.register_extension(ESIC_EXTENSION_1)

    return PdfA3Signer(metadata, signer)


def _quiet_pyhanko() -> None:
    """Keep pyHanko's log records (with tracebacks) off the user's terminal.

    pyHanko logs, at warning level and with the exception's traceback, why it could not
    build a trust path for an untrusted signer. With no logging configured, Python would
    print that to stderr; the verdict reports the same finding in one line instead.
    """
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


@dataclass
class SignatureCheck:
    """What the signature check found (one signature: govern signs once)."""

    signed: bool = False
    signature_count: int = 0
    intact: bool = False
    valid: bool = False
    trusted: bool = False
    bottom_line: bool = False
    covers_whole_file: bool = False
    modified_after_signing: bool = False
    signer: dict[str, str] = field(default_factory=dict)
    signed_at: dt.datetime | None = None
    embedded_json: bytes | None = None
    embedded_json_at_signing: bytes | None = None
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.signed
            and self.intact
            and self.valid
            and self.trusted
            and self.bottom_line
            and self.covers_whole_file
            and not self.problems
        )


def check_pdf(pdf: bytes, trust_roots: list[x509.Certificate]) -> SignatureCheck:
    """Validate the signature of ``pdf`` against ``trust_roots``; never raises on bad PDFs."""
    check = SignatureCheck()
    try:
        _check(pdf, trust_roots, check)
    except Exception as exc:  # a broken file is a finding, not a crash
        check.intact = False
        check.problems.append(f"the file cannot be read as a signed PDF: {_one_line(exc)}")
    return check


def _check(pdf: bytes, trust_roots: list[x509.Certificate], check: SignatureCheck) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    _quiet_pyhanko()
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    current = _attachments(reader.root, CARD_ATTACHMENT)
    check.embedded_json = current[-1] if current else None
    if len(current) > 1:
        check.problems.append(
            f"the PDF carries {len(current)} files named {CARD_ATTACHMENT}; a card has one"
        )
    signatures = reader.embedded_signatures
    check.signature_count = len(signatures)
    if not signatures:
        check.problems.append("the PDF carries no digital signature")
        return
    check.signed = True
    if len(signatures) > 1:
        check.problems.append(
            f"the PDF carries {len(signatures)} signatures; a govern card is signed once"
        )
    signature = signatures[0]
    try:
        historical = reader.get_historical_root(signature.signed_revision)
        check.embedded_json_at_signing = _attachment(historical, CARD_ATTACHMENT)
    except Exception as exc:  # an unreadable signed revision is itself a finding
        check.problems.append(f"the signed revision cannot be read: {_one_line(exc)}")
    _judge(check, _validate(signature, trust_roots))


def _validate(
    signature: EmbeddedPdfSignature, trust_roots: list[x509.Certificate]
) -> PdfSignatureStatus:
    """pyHanko's validation of one signature against our trust roots, offline."""
    from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko_certvalidator import ValidationContext

    roots = [translate_pyca_cryptography_cert_to_asn1(c) for c in trust_roots]
    context = ValidationContext(
        trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail"
    )
    usage = KeyUsageConstraints(
        key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
    )
    return validate_pdf_signature(signature, context, key_usage_settings=usage)


def _judge(check: SignatureCheck, status: PdfSignatureStatus) -> None:
    """Record pyHanko's verdict in ``check``, each failure worded as a problem."""
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    check.intact = bool(status.intact)
    check.valid = bool(status.valid)
    check.trusted = bool(status.trusted)
    check.bottom_line = bool(status.bottom_line)
    check.covers_whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    check.modified_after_signing = not check.covers_whole_file or not bool(
        getattr(status, "docmdp_ok", True)
    )
    cert = status.signing_cert
    check.signer = _describe_asn1(cert) if cert is not None else {}
    check.signed_at = status.signer_reported_dt
    if not status.intact:
        check.problems.append("the signed content was changed: the document digest does not match")
    elif not status.valid:
        check.problems.append("the signature value does not verify against the signer's key")
    if check.intact and check.modified_after_signing:
        check.problems.append(
            "the document was modified after signing (an incremental update was appended)"
        )
    if not check.trusted and check.intact and check.valid:
        subject = check.signer.get("subject", "unknown signer")
        check.problems.append(
            f"the signer's certificate ({subject}) is not trusted: neither it nor an issuer "
            "of it is an organisation certificate known here (the catalogue's, "
            "GOVERN_TRUSTED_CERTIFICATES or --trust; `govern keys org export` writes the "
            "organisation's)"
        )
    if (
        check.embedded_json is not None
        and check.embedded_json_at_signing is not None
        and check.embedded_json != check.embedded_json_at_signing
    ):
        check.problems.append(f"the embedded {CARD_ATTACHMENT} was replaced after signing")
    if check.embedded_json is None:
        check.problems.append(f"the PDF carries no embedded {CARD_ATTACHMENT}")
    # Keep pyHanko's own bottom line as a detail: it is the independent library verdict.
    check.details.append(
        f"pyHanko: intact={status.intact} valid={status.valid} trusted={status.trusted} "
        f"coverage={getattr(status.coverage, 'name', status.coverage)} "
        f"modification={getattr(status.modification_level, 'name', status.modification_level)} "
        f"bottom_line={status.bottom_line}"
    )


def _attachments(root: Any, name: str) -> list[bytes]:
    """The bytes of every embedded file called ``name`` under a document catalogue."""
    try:
        names = root["/Names"]["/EmbeddedFiles"]
    except (KeyError, TypeError):
        return []
    found = []
    for spec_name, spec in _name_tree_items(names):
        if spec_name == name:
            try:
                found.append(bytes(spec["/EF"]["/F"].data))
            except (KeyError, TypeError, AttributeError):
                continue
    return found


def _attachment(root: Any, name: str) -> bytes | None:
    """The last embedded file called ``name`` (what most readers show), or None."""
    found = _attachments(root, name)
    return found[-1] if found else None


def _name_tree_items(node: Any, depth: int = 0) -> list[tuple[str, Any]]:
    if depth > 16:  # a hostile file could nest name trees without end
        return []
    items: list[tuple[str, Any]] = []
    if "/Names" in node:
        flat = node["/Names"]
        for index in range(0, len(flat) - 1, 2):
            items.append((str(flat[index]), flat[index + 1]))
    if "/Kids" in node:
        for kid in node["/Kids"]:
            items.extend(_name_tree_items(kid, depth + 1))
    return items


def _describe_asn1(cert: Any) -> dict[str, str]:
    from cryptography.x509 import load_der_x509_certificate

    return describe(load_der_x509_certificate(cert.dump()))


def fingerprint_of(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


__all__ = [
    "CARD_ATTACHMENT",
    "FIELD_NAME",
    "SignatureCheck",
    "check_pdf",
    "sha256",
    "sign_pdf",
]
