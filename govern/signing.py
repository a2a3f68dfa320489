"""The instance's signing identity: a private key and an X.509 certificate.

``govern keys init`` creates an ECDSA P-256 (default) or RSA-3072 key and a self-signed
certificate with key usage digitalSignature + nonRepudiation, which PDF readers and
pyHanko's validator expect of a document signer; or it imports a PKCS#12 bundle issued by
the organisation's CA. The same identity signs audit checkpoints and PDF model cards.

Files in the key directory: ``signing-key.pem`` (PKCS#8, mode 0600, encrypted when a
passphrase is configured), ``signing-cert.pem`` and, for imported bundles, ``chain.pem``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from govern import personal_keys
from govern.errors import SignatureError
from govern.personal_keys import write_private

KEY_FILE = "signing-key.pem"
CERT_FILE = "signing-cert.pem"
CHAIN_FILE = "chain.pem"
Algorithm = Literal["ecdsa-p256", "rsa-3072"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class SigningIdentity:
    key: PrivateKey
    certificate: x509.Certificate
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def key_paths(key_dir: Path) -> tuple[Path, Path, Path]:
    return key_dir / KEY_FILE, key_dir / CERT_FILE, key_dir / CHAIN_FILE


def _prepare_dir(key_dir: Path, *, force: bool) -> None:
    key_path, cert_path, _ = key_paths(key_dir)
    if not force and (key_path.exists() or cert_path.exists()):
        raise SignatureError(
            f"a signing key already exists in {key_dir}; use --force to replace it (documents "
            "signed with the old key will no longer match this instance's certificate)"
        )
    try:
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise SignatureError(f"cannot create key directory {key_dir}: {exc.strerror}") from None


def _encryption(passphrase: bytes | None) -> serialization.KeySerializationEncryption:
    if passphrase:
        return serialization.BestAvailableEncryption(passphrase)
    return serialization.NoEncryption()


def create_identity(
    key_dir: Path,
    *,
    common_name: str,
    organization: str = "",
    algorithm: Algorithm = "ecdsa-p256",
    passphrase: bytes | None = None,
    valid_days: int = 3 * 365,
    force: bool = False,
) -> SigningIdentity:
    """Create a key pair and a self-signed certificate in ``key_dir``."""
    _prepare_dir(key_dir, force=force)
    key: PrivateKey
    if algorithm == "ecdsa-p256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "rsa-3072":
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise SignatureError(f"unknown key algorithm {algorithm!r}: use ecdsa-p256 or rsa-3072")
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    name = x509.Name(attributes)
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _store(key_dir, key, certificate, [], passphrase)
    return SigningIdentity(key, certificate)


def import_pkcs12(
    key_dir: Path,
    bundle: Path,
    *,
    bundle_password: bytes | None,
    passphrase: bytes | None = None,
    force: bool = False,
) -> SigningIdentity:
    """Import a key and certificate (and CA chain) from the organisation's PKCS#12 file."""
    try:
        data = bundle.read_bytes()
    except OSError as exc:
        raise SignatureError(f"{bundle}: cannot read: {exc.strerror}") from None
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, bundle_password)
    except ValueError:
        raise SignatureError(f"{bundle}: not a PKCS#12 file, or the password is wrong") from None
    if key is None or certificate is None:
        raise SignatureError(f"{bundle}: the bundle holds no private key and certificate")
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise SignatureError(f"{bundle}: only RSA and ECDSA keys can sign model cards")
    _check_usage(certificate, str(bundle))
    _prepare_dir(key_dir, force=force)
    _store(key_dir, key, certificate, list(chain or []), passphrase)
    return SigningIdentity(key, certificate, list(chain or []))


def _check_usage(certificate: x509.Certificate, where: str) -> None:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.digital_signature:
        raise SignatureError(f"{where}: certificate's key usage does not allow digital signatures")


def _store(
    key_dir: Path,
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    passphrase: bytes | None,
) -> None:
    key_path, cert_path, chain_path = key_paths(key_dir)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, _encryption(passphrase)
    )
    write_private(key_path, pem)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    if chain:
        chain_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    elif chain_path.exists():
        chain_path.unlink()


def load_certificate(key_dir: Path) -> x509.Certificate:
    _, cert_path, _ = key_paths(key_dir)
    return read_certificate(cert_path, missing_hint=True)


def read_certificate(path: Path, *, missing_hint: bool = False) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if missing_hint:
            raise SignatureError(
                f"no signing certificate at {path}; create one with `govern keys init`"
            ) from None
        raise SignatureError(f"{path}: no such certificate file") from None
    except OSError as exc:
        raise SignatureError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise SignatureError(f"{path}: not an X.509 certificate") from None


def read_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate in a file: a PEM bundle (``govern keys org export`` writes one per
    organisation key, retired ones included) or a single PEM or DER certificate."""
    first = read_certificate(path)  # the file's own errors: missing, unreadable, not X.509
    try:
        data = path.read_bytes()
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)
    except (OSError, ValueError):
        pass
    return [first]


def load_identity(key_dir: Path, *, passphrase: bytes | None = None) -> SigningIdentity:
    """Load the instance's key and certificate; errors name ``govern keys init``."""
    key_path, cert_path, chain_path = key_paths(key_dir)
    try:
        pem = key_path.read_bytes()
    except FileNotFoundError:
        raise SignatureError(
            f"no signing key in {key_dir}; create one with `govern keys init`"
        ) from None
    except OSError as exc:
        raise SignatureError(f"{key_path}: cannot read: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase or None)
    except TypeError:
        raise SignatureError(
            f"{key_path} is passphrase-protected; set GOVERN_KEY_PASSPHRASE"
            if not passphrase
            else f"{key_path} is not encrypted; unset GOVERN_KEY_PASSPHRASE"
        ) from None
    except ValueError:
        raise SignatureError(
            f"{key_path}: cannot load the signing key (wrong passphrase or not a PEM key)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise SignatureError(f"{key_path}: only RSA and ECDSA signing keys are supported")
    certificate = read_certificate(cert_path, missing_hint=True)
    own = serialization.PublicFormat.SubjectPublicKeyInfo
    if certificate.public_key().public_bytes(
        serialization.Encoding.DER, own
    ) != key.public_key().public_bytes(serialization.Encoding.DER, own):
        raise SignatureError(f"{cert_path} does not belong to the key in {key_path}")
    chain: list[x509.Certificate] = []
    if chain_path.exists():
        chain = x509.load_pem_x509_certificates(chain_path.read_bytes())
    return SigningIdentity(key, certificate, chain)


def sign_bytes(identity: SigningIdentity, data: bytes) -> bytes:
    """Sign with the organisation's key (the schemes of ``personal_keys.sign``)."""
    return personal_keys.sign(identity.key, data)


def verify_bytes(certificate: x509.Certificate, data: bytes, signature: bytes) -> bool:
    return personal_keys.verify(certificate.public_key(), data, signature)


def describe(certificate: x509.Certificate) -> dict[str, str]:
    public = certificate.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        algorithm = f"ECDSA {public.curve.name}"
    elif isinstance(public, rsa.RSAPublicKey):
        algorithm = f"RSA-{public.key_size}"
    else:
        algorithm = type(public).__name__
    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "algorithm": algorithm,
        "fingerprint_sha256": fingerprint(certificate),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "self_signed": str(certificate.subject == certificate.issuer).lower(),
    }
