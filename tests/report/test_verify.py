"""`govern verify`: intact cards pass; every kind of tampering is reported with exit 1.

Each verdict is checked against an independent opinion as well: pyHanko's own validator (used
directly, not through govern). Poppler's ``pdfsig`` gives a third, as a cross-check that runs
where poppler is installed (always in CI).

The intact card, the auditor without a catalogue, the organisation's CA and one bad file run
`govern verify` as a real process (where stderr also shows what libraries log); the verdicts
on tampered files run it in process (``invoke_cli``: the same ``run`` that ``python -m
govern`` exits with).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from govern.services import reports
from govern.signing import create_identity
from tests.conftest import invoke_cli, run_cli
from tests.report.conftest import REF, pdfsig

CARD_JSON = "govern-card.json"


def pyhanko_opinion(path: Path, cert: Path) -> tuple[bool, bool]:
    """(bottom line, covers whole file) from pyHanko's validator, trusting ``cert``."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    with path.open("rb") as handle:
        reader = PdfFileReader(handle, strict=False)
        status = validate_pdf_signature(
            reader.embedded_signatures[0],
            ValidationContext(trust_roots=[load_cert_from_pemder(str(cert))]),
        )
        return status.bottom_line, status.coverage == SignatureCoverageLevel.ENTIRE_FILE


def verify_cli(card, path: Path, *extra: str, process: bool = False) -> tuple[int, dict]:
    """`govern verify --json` in process, or as a real process."""
    done = (run_cli if process else invoke_cli)("verify", str(path), "--json", *extra, env=card.env)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def unsigned_card(signed_card, tmp_path_factory) -> Path:
    """The sample card built without a signature, once for the module (a build takes seconds)."""
    unsigned = tmp_path_factory.mktemp("unsigned") / "unsigned.pdf"
    reports.build_report(signed_card.ctx("carol"), REF, output=unsigned, sign=False)
    return unsigned


def test_intact_card_verifies_with_govern_and_pyhanko(signed_card):
    code, verdict = verify_cli(signed_card, signed_card.pdf, process=True)
    assert code == 0, verdict["problems"]
    assert verdict["ok"] and verdict["intact"] and verdict["trusted"]
    assert not verdict["modified_after_signing"]
    assert verdict["signer"]["subject"] == "CN=govern test instance"
    assert verdict["ref"] == REF and verdict["catalogue"] == "match"
    assert pyhanko_opinion(signed_card.pdf, signed_card.cert) == (True, True)


def test_human_readable_verdict(signed_card):
    done = run_cli("verify", str(signed_card.pdf), env=signed_card.env)
    assert done.returncode == 0
    assert "INTACT AND TRUSTED" in done.stdout and "catalogue:" in done.stdout
    assert done.stderr == ""


def flipped(card, folder: Path) -> Path:
    """The card with bytes flipped inside the first signed byte range (the page content)."""
    data = bytearray(card.pdf.read_bytes())
    middle = len(data) // 3
    for offset in range(middle, middle + 8):
        data[offset] ^= 0xFF
    bad = folder / "flipped.pdf"
    bad.write_bytes(bytes(data))
    return bad


def test_flipped_bytes_are_reported(signed_card, tmp_path):
    code, verdict = verify_cli(signed_card, flipped(signed_card, tmp_path))
    assert code == 1 and not verdict["ok"] and not verdict["intact"]
    assert any("changed" in p or "cannot be read" in p for p in verdict["problems"])


def updated(card, folder: Path) -> Path:
    """The card with an incremental update appended after its signature (a new title)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(card.pdf.read_bytes()), strict=False)
    info = writer.add_object(
        generic.DictionaryObject(
            {generic.NameObject("/Title"): generic.TextStringObject("Approved by nobody")}
        )
    )
    writer.set_info(info)
    out = io.BytesIO()
    writer.write(out)
    bad = folder / "updated.pdf"
    bad.write_bytes(out.getvalue())
    return bad


def test_appended_incremental_update_is_reported(signed_card, tmp_path):
    bad = updated(signed_card, tmp_path)
    code, verdict = verify_cli(signed_card, bad)
    assert code == 1 and verdict["modified_after_signing"]
    assert any("modified after signing" in p for p in verdict["problems"])
    assert pyhanko_opinion(bad, signed_card.cert)[1] is False


def with_embedded_json(card, data: bytes, bad: Path) -> Path:
    """The signed card with a second govern-card.json appended by an incremental update."""
    from pyhanko.pdf_utils import embed
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(card.pdf.read_bytes()), strict=False)
    embed.embed_file(
        writer,
        embed.FileSpec(
            file_spec_string=CARD_JSON,
            file_name=CARD_JSON,
            embedded_data=embed.EmbeddedFileObject.from_file_data(
                writer, data, mime_type="application/json"
            ),
        ),
    )
    out = io.BytesIO()
    writer.write(out)
    bad.write_bytes(out.getvalue())
    return bad


def test_swapped_embedded_json_is_reported(signed_card, tmp_path):
    original = json.loads(reports_embedded(signed_card.pdf))
    original["governance"]["state"] = "deployed"
    original["quantitative_analysis"]["performance_metrics"] = []
    forged = json.dumps(original).encode()
    bad = with_embedded_json(signed_card, forged, tmp_path / "swapped.pdf")
    assert reports_embedded(bad) == forged  # what a PDF reader now shows
    code, verdict = verify_cli(signed_card, bad)
    assert code == 1
    assert any("replaced after signing" in p for p in verdict["problems"])
    assert any("2 files named govern-card.json" in p for p in verdict["problems"])
    assert any("modified after signing" in p for p in verdict["problems"])
    assert verdict["catalogue"] == "mismatch"


def test_embedded_json_with_a_huge_integer_is_a_finding_not_a_crash(signed_card, tmp_path):
    hostile = b'{"governance": {"ref": "x@1", "rows": ' + b"9" * 5000 + b"}}"
    bad = with_embedded_json(signed_card, hostile, tmp_path / "huge.pdf")
    code, verdict = verify_cli(signed_card, bad)
    assert code == 1
    assert any("not a govern card document" in p for p in verdict["problems"])


def re_signed(unsigned: Path, folder: Path) -> Path:
    """The same content signed by an outsider, Mallory."""
    from govern.report.signature import sign_pdf

    outsider = create_identity(folder / "outsider", common_name="Mallory")
    forged = folder / "mallory.pdf"
    forged.write_bytes(sign_pdf(unsigned.read_bytes(), outsider, reason="forged"))
    return forged


def test_card_signed_by_another_key_is_not_trusted(signed_card, unsigned_card, tmp_path):
    """Same content, re-signed by an outsider: intact but untrusted, and not the recorded file."""
    code, verdict = verify_cli(signed_card, re_signed(unsigned_card, tmp_path))
    assert code == 1 and verdict["intact"] and not verdict["trusted"]
    assert verdict["signer"]["subject"] == "CN=Mallory"
    assert any("not trusted" in p for p in verdict["problems"])
    assert verdict["catalogue"] == "mismatch"


def test_unsigned_card_fails_verification(signed_card, unsigned_card):
    code, verdict = verify_cli(signed_card, unsigned_card)
    assert code == 1 and not verdict["signed"]
    assert "the PDF carries no digital signature" in verdict["problems"]


def test_auditor_without_catalogue_trusts_the_certificate_given(signed_card, tmp_path):
    """Only the PDF and the signer's certificate: verified, catalogue "not checked"."""
    home = tmp_path / "auditor-home"
    done = run_cli(
        "verify",
        str(signed_card.pdf),
        "--trust",
        str(signed_card.cert),
        "--json",
        cwd=tmp_path,
        env={"GOVERN_HOME": str(home)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["catalogue"] == "not checked"
    assert verdict["catalogue_detail"].startswith("no catalogue at")
    assert "only the PDF itself was checked" in verdict["catalogue_detail"]
    assert not (tmp_path / "govern.db").exists()  # verifying created no catalogue
    # the same auditor without the certificate: intact, but the signer is not trusted
    done = run_cli("verify", str(signed_card.pdf), cwd=tmp_path, env={"GOVERN_HOME": str(home)})
    assert done.returncode == 1 and "not trusted" in done.stderr
    assert "Traceback" not in done.stderr  # pyHanko logs its path-building error with one


def test_verify_service_with_settings_only(signed_card):
    """Without a catalogue the organisation key files on this machine are not trusted by
    themselves: the certificate must be given (or listed in GOVERN_TRUSTED_CERTIFICATES)."""
    from govern.config import load_settings

    settings = load_settings(home=signed_card.home)
    verdict = reports.verify_pdf(settings, signed_card.pdf, trust=[signed_card.cert])
    assert verdict.ok and verdict.catalogue == "not checked", verdict.problems
    assert verdict.organisation == "not checked (no catalogue)"
    alone = reports.verify_pdf(settings, signed_card.pdf)
    assert alone.intact and not alone.trusted and not alone.ok
    assert any("not trusted" in p for p in alone.problems)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.pdf", None, "no such file"),
        ("notes.pdf", b"just some text\n", "not a PDF file"),
        ("empty.pdf", b"", "file is empty"),
        ("folder.pdf", "dir", "is a directory"),
    ],
)
def test_bad_input_exits_2(signed_card, tmp_path, name, content, message):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    runner = run_cli if name == "missing.pdf" else invoke_cli
    done = runner("verify", str(path), env=signed_card.env)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def reports_embedded(path: Path) -> bytes:
    from pyhanko.pdf_utils.reader import PdfFileReader

    from govern.report.signature import _attachment

    with path.open("rb") as handle:
        data = _attachment(PdfFileReader(handle, strict=False).root, CARD_JSON)
    assert data is not None
    return data


def rsa_signed(unsigned: Path, folder: Path) -> tuple[Path, Path]:
    """The card signed with an RSA-3072 key: (PDF, the key's certificate)."""
    from govern.report.signature import sign_pdf
    from govern.signing import load_identity

    key_dir = folder / "rsa"
    create_identity(key_dir, common_name="govern rsa instance", algorithm="rsa-3072")
    signed = folder / "rsa.pdf"
    signed.write_bytes(sign_pdf(unsigned.read_bytes(), load_identity(key_dir), reason="test"))
    return signed, key_dir / "signing-cert.pem"


def test_rsa_3072_card_verifies_with_govern_and_pyhanko(signed_card, unsigned_card, tmp_path):
    """The other key type of `govern keys org init`: same PDF 1.7, same verdicts."""
    signed, cert = rsa_signed(unsigned_card, tmp_path)
    assert b"/Version /2.0" not in signed.read_bytes()
    code, verdict = verify_cli(signed_card, signed, "--trust", str(cert))
    # intact and trusted; only the catalogue knows this is not the file it recorded
    assert verdict["intact"] and verdict["trusted"] and not verdict["modified_after_signing"]
    assert verdict["signer"]["algorithm"] == "RSA-3072"
    assert code == 1 and verdict["catalogue"] == "mismatch"
    assert pyhanko_opinion(signed, cert) == (True, True)


def broken_signature(card, folder: Path) -> Path:
    """The card with one hex digit of its signature value changed."""
    import re

    from asn1crypto import cms

    data = card.pdf.read_bytes()
    found = re.search(rb"/Contents\s*<([0-9a-fA-F]+)>", data)
    assert found is not None
    blob = bytes.fromhex(found.group(1).decode())
    value = cms.ContentInfo.load(blob)["content"]["signer_infos"][0]["signature"].native
    at = found.start(1) + 2 * (blob.index(value) + len(value) // 2)
    broken = bytearray(data)
    broken[at] = ord("0") if broken[at] != ord("0") else ord("1")
    bad = folder / "bad-signature.pdf"
    bad.write_bytes(bytes(broken))
    return bad


def test_broken_signature_value_is_not_called_untrusted(signed_card, tmp_path):
    """A signature that does not verify is reported as such, not as a trust problem."""
    code, verdict = verify_cli(signed_card, broken_signature(signed_card, tmp_path))
    assert code == 1 and not verdict["ok"]
    assert "the signature value does not verify against the signer's key" in verdict["problems"]
    assert not any("not trusted" in p for p in verdict["problems"])


@pytest.mark.cross_check("pdfsig")
def test_pdfsig_agrees_with_each_verdict(signed_card, unsigned_card, tmp_path):
    """Poppler's opinion of the same files as the tests above."""
    sig = pdfsig(signed_card.pdf)
    assert "Signature is Valid." in sig and "Total document signed" in sig
    assert "ETSI.CAdES.detached" in sig  # PAdES
    assert "Signature is Valid." not in pdfsig(flipped(signed_card, tmp_path))
    assert "Total document signed" not in pdfsig(updated(signed_card, tmp_path))
    # Mallory's copy is intact; trust is what differs
    assert "Signature is Valid." in pdfsig(re_signed(unsigned_card, tmp_path))
    sig = pdfsig(rsa_signed(unsigned_card, tmp_path)[0])
    assert "Signature is Valid." in sig and "Total document signed" in sig
    assert "Signature is Invalid." in pdfsig(broken_signature(signed_card, tmp_path))


def _organisation_bundle(folder: Path) -> tuple[Path, Path]:
    """An organisation CA's certificate and a PKCS#12 it issued for govern: (p12, ca.pem)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    def usage(*, sign_certs: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=not sign_certs,
            content_commitment=not sign_certs,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=sign_certs,
            crl_sign=sign_certs,
            encipher_only=False,
            decipher_only=False,
        )

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ACME Bank"),
            x509.NameAttribute(NameOID.COMMON_NAME, "ACME Model Risk CA"),
        ]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=60))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(sign_certs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "govern at ACME")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign_certs=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    bundle, ca_pem = folder / "org.p12", folder / "acme-ca.pem"
    bundle.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"govern", key, leaf, [ca], serialization.BestAvailableEncryption(b"pw")
        )
    )
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return bundle, ca_pem


@pytest.fixture(scope="module")
def org_card(tmp_path_factory) -> tuple[Path, Path]:
    """`keys org init --import org.p12`, then a card signed with it: (PDF, the CA's certificate).

    Once for the module, in an environment of its own (as the session's ``signed_card``).
    """
    import os

    import tests.conftest as shared
    from tests.report.conftest import prepare

    base = tmp_path_factory.mktemp("org-card")
    home = base / "home"
    url = f"sqlite:///{base / 'govern.db'}"
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("GOVERN_") and not name.startswith("GOVERN_TEST_"):
                patch.delenv(name)
        patch.setenv("GOVERN_HOME", str(home))
        patch.setenv("GOVERN_TEST_PEOPLE", str(base / "people"))
        patch.setattr(shared, "_PEOPLE", base / "people")
        cat = prepare(url, home, key=False)
        bundle, ca_pem = _organisation_bundle(base)
        env = {"GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": url}
        done = run_cli(
            "keys",
            "org",
            "init",
            "--import",
            str(bundle),
            env={**env, "GOVERN_P12_PASSWORD": "pw"},
            user="admin",
        )
        assert done.returncode == 0, done.stderr
        pdf = base / "card.pdf"
        done = run_cli("report", REF, "-o", str(pdf), env=env, user="carol")
        assert done.returncode == 0 and "signed by CN=govern at ACME" in done.stdout, done.stderr
        cat.close()
    return pdf, ca_pem


def test_card_signed_with_an_organisation_key_is_trusted_through_its_ca(org_card, tmp_path):
    """`keys org init --import org.p12`: an auditor who trusts only the CA accepts the card."""
    from cryptography import x509
    from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store
    from pyhanko.pdf_utils.reader import PdfFileReader

    pdf, ca_pem = org_card
    # The auditor has the PDF and the CA's certificate, and no catalogue (not even in the
    # working directory, where the default one would be).
    desk = tmp_path / "auditor-desk"
    desk.mkdir()
    auditor = {"GOVERN_HOME": str(tmp_path / "auditor")}
    done = run_cli("verify", str(pdf), "--trust", str(ca_pem), "--json", cwd=desk, env=auditor)
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["signer"]["issuer"] == "CN=ACME Model Risk CA,O=ACME Bank"
    done = invoke_cli("verify", str(pdf), cwd=desk, env=auditor)
    assert done.returncode == 1 and "not trusted" in done.stderr and "Traceback" not in done.stderr
    assert pyhanko_opinion(pdf, ca_pem) == (True, True)
    # cryptography's own path building agrees: the signer's certificate chains to the CA.
    with pdf.open("rb") as handle:
        signer = PdfFileReader(handle, strict=False).embedded_signatures[0].signer_cert
    leaf = x509.load_der_x509_certificate(signer.dump())
    ca = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    # A signing certificate, not a TLS one: no subjectAltName, whatever its end-entity extensions.
    verifier = (
        PolicyBuilder()
        .store(Store([ca]))
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
        .build_client_verifier()
    )
    chain = verifier.verify(leaf, []).chain
    assert [c.subject for c in chain] == [leaf.subject, ca.subject]


@pytest.mark.cross_check("certutil", "pdfsig")
def test_poppler_trusts_the_organisation_card_once_the_ca_is_imported(org_card, tmp_path):
    """The same card in poppler, with the CA imported into its certificate store (NSS)."""
    import subprocess

    pdf, ca_pem = org_card
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    before = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True
    ).stdout
    assert "Signature is Valid." in before and "Certificate is Trusted." not in before
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nss}", "-n", "acme", "-t", "CT,C,C", "-i", str(ca_pem)],
        check=True,
    )
    after = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True
    ).stdout
    assert "Signature is Valid." in after and "Certificate is Trusted." in after


def test_trusted_certificates_from_the_environment(signed_card, tmp_path):
    """GOVERN_TRUSTED_CERTIFICATES takes paths like PATH does, or a JSON list."""
    import os

    create_identity(tmp_path / "other", common_name="someone else")
    auditor = {"GOVERN_HOME": str(tmp_path / "auditor")}
    listed = os.pathsep.join([str(tmp_path / "other" / "signing-cert.pem"), str(signed_card.cert)])
    for value in (str(signed_card.cert), listed, json.dumps([str(signed_card.cert)])):
        done = invoke_cli(
            "verify",
            str(signed_card.pdf),
            cwd=tmp_path,
            env={**auditor, "GOVERN_TRUSTED_CERTIFICATES": value},
        )
        assert done.returncode == 0, (value, done.stderr)
    missing = str(tmp_path / "nowhere.pem")
    done = invoke_cli(
        "verify",
        str(signed_card.pdf),
        cwd=tmp_path,
        env={**auditor, "GOVERN_TRUSTED_CERTIFICATES": missing},
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"error: GOVERN_TRUSTED_CERTIFICATES: {missing}: no such certificate file"
    )
    # A malformed setting, and a governance rule set where only the catalogue may hold it:
    # one line naming it, exit 2.
    for name, value, message in (
        ("GOVERN_MAX_DATA_BYTES", "{", "max_data_bytes"),
        ("GOVERN_APPROVALS_BY_TIER", "{", "GOVERN_APPROVALS_BY_TIER: this is a governance setting"),
    ):
        done = run_cli("verify", str(signed_card.pdf), cwd=tmp_path, env={**auditor, name: value})
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr
