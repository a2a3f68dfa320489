"""The instance's signing key: create, import, show, load."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path

from cryptography import x509

from govern import signing
from govern.config import Settings
from govern.errors import ConfigError, SignatureError
from govern.services.views import KeyInfo


def _passphrase(settings: Settings) -> bytes | None:
    secret = settings.key_passphrase
    return secret.get_secret_value().encode("utf-8") if secret else None


def init_keys(
    settings: Settings,
    *,
    algorithm: signing.Algorithm = "ecdsa-p256",
    common_name: str | None = None,
    organization: str = "",
    import_p12: Path | None = None,
    p12_password: str | None = None,
    force: bool = False,
) -> KeyInfo:
    """Create the signing key and a self-signed certificate, or import a PKCS#12 bundle.

    The key is encrypted with ``GOVERN_KEY_PASSPHRASE`` when it is set.
    """
    key_dir = settings.resolved_key_dir
    if import_p12 is not None:
        signing.import_pkcs12(
            key_dir,
            import_p12,
            bundle_password=p12_password.encode("utf-8") if p12_password else None,
            passphrase=_passphrase(settings),
            force=force,
        )
    else:
        name = common_name or f"govern instance {getpass.getuser()}@{socket.gethostname()}"
        signing.create_identity(
            key_dir,
            common_name=name,
            organization=organization,
            algorithm=algorithm,
            passphrase=_passphrase(settings),
            force=force,
        )
    return show_keys(settings)


def show_keys(settings: Settings) -> KeyInfo:
    key_dir = settings.resolved_key_dir
    certificate = signing.load_certificate(key_dir)
    key_path = signing.key_paths(key_dir)[0]
    if not key_path.exists():
        raise SignatureError(f"no signing key in {key_dir}; create one with `govern keys init`")
    encrypted = b"ENCRYPTED" in key_path.read_bytes()[:64]
    info = signing.describe(certificate)
    return KeyInfo(
        key_dir=str(key_dir),
        encrypted=encrypted,
        subject=info["subject"],
        issuer=info["issuer"],
        algorithm=info["algorithm"],
        fingerprint_sha256=info["fingerprint_sha256"],
        not_before=info["not_before"],
        not_after=info["not_after"],
        self_signed=info["self_signed"] == "true",
    )


def load_identity(settings: Settings) -> signing.SigningIdentity:
    return signing.load_identity(settings.resolved_key_dir, passphrase=_passphrase(settings))


def trusted_certificates(settings: Settings) -> list[x509.Certificate]:
    """The instance's own certificate (if any) plus ``GOVERN_TRUSTED_CERTIFICATES``."""
    trusted = []
    own = signing.key_paths(settings.resolved_key_dir)[1]
    if own.exists():
        trusted.append(signing.read_certificate(own))
    for path in settings.trusted_certificates:
        try:
            trusted.append(signing.read_certificate(path))
        except SignatureError as exc:
            raise ConfigError(f"GOVERN_TRUSTED_CERTIFICATES: {exc.message}") from None
    return trusted
