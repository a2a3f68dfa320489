"""`govern keys init|show`: the instance key and certificate, passphrases, PKCS#12 import.

``keys_json`` and the refused bundles run `govern keys` in process (``invoke_cli``: the same
``run`` that ``python -m govern`` exits with); the other commands run as real processes.
"""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from govern import signing
from tests.conftest import invoke_cli, run_cli
from tests.foundation.helpers import assert_clean_failure


@pytest.fixture
def key_dir(isolated_environment: Path) -> Path:
    return isolated_environment / "keys"


def keys_json(*args: str, env: dict[str, str] | None = None) -> dict:
    result = invoke_cli("keys", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def certificate(key_dir: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate((key_dir / "signing-cert.pem").read_bytes())


@pytest.mark.parametrize(
    ("args", "algorithm", "key_type"),
    [
        ((), "ECDSA secp256r1", ec.EllipticCurvePublicKey),
        (("--algorithm", "rsa-3072"), "RSA-3072", rsa.RSAPublicKey),
    ],
)
def test_keys_init_creates_a_private_key_and_a_signing_certificate(
    key_dir, args, algorithm, key_type
):
    info = keys_json("init", *args, "--common-name", "Model Risk", "--organization", "ACME")
    assert info["algorithm"] == algorithm
    assert info["self_signed"] is True and info["encrypted"] is False
    key_file = key_dir / "signing-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) & 0o077 == 0
    cert = certificate(key_dir)
    assert isinstance(cert.public_key(), key_type)
    if key_type is rsa.RSAPublicKey:
        assert cert.public_key().key_size == 3072
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.content_commitment  # nonRepudiation
    assert not usage.value.key_cert_sign
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Model Risk"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "ACME"
    assert info["fingerprint_sha256"] == cert.fingerprint(hashes.SHA256()).hex()
    # The key belongs to the certificate and signs what the certificate verifies.
    identity = signing.load_identity(key_dir)
    assert signing.verify_bytes(cert, b"hello", signing.sign_bytes(identity, b"hello"))


def test_unknown_algorithm_is_refused(key_dir):
    lines = assert_clean_failure(run_cli("keys", "init", "--algorithm", "dsa-1024"))
    assert len(lines) == 1 and "dsa-1024" in lines[0]
    assert not key_dir.exists()


def test_passphrase_encrypts_the_key_and_is_needed_to_use_it(key_dir, sqlite_cat, tmp_path):
    secret = {"GOVERN_KEY_PASSPHRASE": "correct horse battery staple"}
    info = keys_json("init", env=secret)
    assert info["encrypted"] is True
    pem = (key_dir / "signing-key.pem").read_bytes()
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in pem
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, password=None)
    assert keys_json("show")["encrypted"] is True

    out = tmp_path / "cp.json"
    args = ("audit", "checkpoint", "-o", str(out))
    missing = assert_clean_failure(run_cli(*args, db=sqlite_cat.url))
    assert len(missing) == 1 and "passphrase-protected; set GOVERN_KEY_PASSPHRASE" in missing[0]
    wrong = assert_clean_failure(
        run_cli(*args, db=sqlite_cat.url, env={"GOVERN_KEY_PASSPHRASE": "wrong"})
    )
    assert len(wrong) == 1 and "wrong passphrase" in wrong[0]
    assert not out.exists()
    good = run_cli(*args, db=sqlite_cat.url, env=secret)
    assert good.returncode == 0, good.stderr
    verified = run_cli("audit", "verify", "--checkpoint", str(out), db=sqlite_cat.url)
    assert verified.returncode == 0, verified.stderr


def test_refuses_to_overwrite_without_force(key_dir):
    first = keys_json("init")
    before = (key_dir / "signing-key.pem").read_bytes()
    lines = assert_clean_failure(run_cli("keys", "init"))
    assert len(lines) == 1 and "already exists" in lines[0] and "--force" in lines[0]
    assert (key_dir / "signing-key.pem").read_bytes() == before
    replaced = keys_json("init", "--force")
    assert replaced["fingerprint_sha256"] != first["fingerprint_sha256"]


def test_keys_show(key_dir):
    missing = assert_clean_failure(run_cli("keys", "show"))
    assert len(missing) == 1 and "govern keys init" in missing[0]
    made = keys_json("init", "--common-name", "Shown")
    result = run_cli("keys", "show")
    assert result.returncode == 0, result.stderr
    assert "CN=Shown" in result.stdout
    assert made["fingerprint_sha256"] in result.stdout
    assert "key encrypted: no" in result.stdout.replace("  ", " ")
    assert keys_json("show") == made


def _bundle(
    path: Path, password: bytes | None, *, usage_ok: bool = True, with_chain: bool = True
) -> x509.Certificate:
    """A PKCS#12 file as an organisation's CA would issue it: CA-signed key + chain."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ACME Test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Model Cards ACME")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.KeyUsage(
                digital_signature=usage_ok,
                content_commitment=usage_ok,
                key_encipherment=not usage_ok,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"govern", key, cert, [ca_cert] if with_chain else None, encryption
        )
    )
    return cert


def test_import_pkcs12(key_dir, tmp_path):
    bundle = tmp_path / "org.p12"
    cert = _bundle(bundle, b"s3cret")
    result = run_cli("keys", "init", "--import", str(bundle), env={"GOVERN_P12_PASSWORD": "s3cret"})
    assert result.returncode == 0, result.stderr
    info = keys_json("show")
    assert info["subject"] == "CN=Model Cards ACME"
    assert info["issuer"] == "CN=ACME Test CA" and info["self_signed"] is False
    assert info["fingerprint_sha256"] == cert.fingerprint(hashes.SHA256()).hex()
    assert stat.S_IMODE((key_dir / "signing-key.pem").stat().st_mode) == 0o600
    identity = signing.load_identity(key_dir)
    assert [c.subject.rfc4514_string() for c in identity.chain] == ["CN=ACME Test CA"]


def test_import_pkcs12_with_a_password_from_a_named_variable(key_dir, tmp_path):
    bundle = tmp_path / "org.p12"
    _bundle(bundle, b"other", with_chain=False)
    result = run_cli(
        "keys",
        "init",
        "--import",
        str(bundle),
        "--p12-password-env",
        "MY_P12",
        env={"MY_P12": "other"},
    )
    assert result.returncode == 0, result.stderr
    assert not (key_dir / "chain.pem").exists()


@pytest.mark.parametrize("case", ["wrong-password", "no-password", "not-p12", "missing", "usage"])
def test_bad_pkcs12_is_refused_and_nothing_is_written(key_dir, tmp_path, case):
    bundle = tmp_path / "org.p12"
    env = {"GOVERN_P12_PASSWORD": "s3cret"}
    if case == "wrong-password":
        _bundle(bundle, b"s3cret")
        env = {"GOVERN_P12_PASSWORD": "guess"}
    elif case == "no-password":
        _bundle(bundle, b"s3cret")
        env = {}
    elif case == "not-p12":
        bundle.write_bytes(b"-----BEGIN CERTIFICATE-----\nnope\n")
    elif case == "usage":
        _bundle(bundle, b"s3cret", usage_ok=False)
    lines = assert_clean_failure(invoke_cli("keys", "init", "--import", str(bundle), env=env))
    assert len(lines) == 1 and str(bundle) in lines[0]
    expected = {
        "wrong-password": "password is wrong",
        "no-password": "password is wrong",
        "not-p12": "not a PKCS#12 file",
        "missing": "cannot read",
        "usage": "does not allow digital signatures",
    }[case]
    assert expected in lines[0]
    assert not (key_dir / "signing-key.pem").exists()


def test_damaged_key_files_are_reported(key_dir, sqlite_cat, tmp_path):
    keys_json("init")
    (key_dir / "signing-key.pem").write_text("not a key\n")
    out = tmp_path / "cp.json"
    lines = assert_clean_failure(run_cli("audit", "checkpoint", "-o", str(out), db=sqlite_cat.url))
    assert len(lines) == 1 and "cannot load the signing key" in lines[0]
    (key_dir / "signing-cert.pem").write_text("garbage\n")
    lines = assert_clean_failure(run_cli("keys", "show"))
    assert len(lines) == 1 and "not an X.509 certificate" in lines[0]
