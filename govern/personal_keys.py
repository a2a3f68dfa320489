"""Personal signing keys: each person (and each CI service account) signs their own actions.

``govern keys init`` creates a key pair in the person's key directory (``GOVERN_KEY_DIR``,
default ``$GOVERN_HOME/identity``): ECDSA P-256 by default, or Ed25519. The private key is
PKCS#8 PEM with mode 0600, encrypted with a passphrase unless ``--no-passphrase``;
``--import`` takes the key (and certificate) from a PKCS#12 file instead. An admin enrols the
public key in the catalogue; from then on the service refuses an action whose signature does
not verify against the actor's enrolled, unrevoked key.

ECDSA P-256 is the default because ``audit verify`` checks every event's signature, and
OpenSSL verifies P-256 signatures faster than Ed25519 ones (``benchmarks/bench_signing.py``
prints both).

A key's fingerprint is ``sha256:`` and the hex SHA-256 of its DER SubjectPublicKeyInfo, the
same bytes whoever computes it (``docs/audit-log-format.md``).

Files: ``identity-key.pem`` (private), ``identity.pub.pem`` (public, what an admin enrols)
and, for an imported PKCS#12, ``identity-cert.pem``.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from govern.errors import SignatureError

KEY_FILE = "identity-key.pem"
PUBLIC_FILE = "identity.pub.pem"
CERT_FILE = "identity-cert.pem"
KeyAlgorithm = Literal["ecdsa-p256", "ed25519"]
ALGORITHMS: tuple[KeyAlgorithm, ...] = ("ecdsa-p256", "ed25519")
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
MAX_KEY_FILE_BYTES = 64_000

_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def fingerprint_of(public: PublicKey) -> str:
    """``sha256:<hex>`` of the key's DER SubjectPublicKeyInfo."""
    der = public.public_bytes(serialization.Encoding.DER, _SPKI)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def public_pem(public: PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM, _SPKI).decode("ascii")


def algorithm_of(public: PublicKey) -> str:
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return "ecdsa-p256" if isinstance(public.curve, ec.SECP256R1) else public.curve.name
    return f"rsa-{public.key_size}"


def load_public_key(text: str | bytes, *, where: str = "public key") -> PublicKey:
    """A public key from PEM (a bare key or an X.509 certificate); SignatureError if not."""
    data = text.encode("ascii", "replace") if isinstance(text, str) else text
    public: Any
    try:
        if b"BEGIN CERTIFICATE" in data:
            public = x509.load_pem_x509_certificate(data).public_key()
        else:
            public = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise SignatureError(f"{where}: not a PEM public key or certificate") from None
    if isinstance(public, ec.EllipticCurvePublicKey) and not isinstance(public.curve, ec.SECP256R1):
        raise SignatureError(f"{where}: ECDSA keys must use the P-256 curve")
    if isinstance(public, rsa.RSAPublicKey) and public.key_size < 2048:
        raise SignatureError(f"{where}: RSA keys must have at least 2048 bits")
    if not isinstance(
        public, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    ):
        raise SignatureError(f"{where}: only ECDSA P-256, Ed25519 and RSA keys can sign")
    return public


@functools.lru_cache(maxsize=256)
def public_key_of(pem: str) -> PublicKey:
    """:func:`load_public_key` of an enrolled key's PEM, parsed once per process."""
    return load_public_key(pem)


def sign(key: PrivateKey, data: bytes) -> bytes:
    """Sign ``data``: Ed25519, ECDSA with SHA-256 (DER), or RSA PKCS#1 v1.5 with SHA-256."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def verify(public: PublicKey | object, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` over ``data`` verifies under ``public`` (the same three schemes)."""
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, data)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class PersonalKey:
    """A person's unlocked private key and what is shown of it."""

    private: PrivateKey
    key_dir: Path

    @property
    def public(self) -> PublicKey:
        return self.private.public_key()

    @functools.cached_property
    def fingerprint(self) -> str:  # every signed action names it
        return fingerprint_of(self.public)

    @property
    def public_pem(self) -> str:
        return public_pem(self.public)

    @property
    def algorithm(self) -> str:
        return algorithm_of(self.public)

    def sign(self, data: bytes) -> bytes:
        return sign(self.private, data)


def key_files(key_dir: Path) -> tuple[Path, Path, Path]:
    return key_dir / KEY_FILE, key_dir / PUBLIC_FILE, key_dir / CERT_FILE


def write_private(path: Path, data: bytes) -> None:
    """Write a secret with mode 0600 from the first byte (no window where it is readable)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    path.chmod(0o600)


def _prepare(key_dir: Path, *, force: bool) -> None:
    private, _, _ = key_files(key_dir)
    if private.exists() and not force:
        raise SignatureError(
            f"a personal key already exists in {key_dir}; use --force to replace it (then ask "
            "an admin to enrol the new public key: actions signed with the old one stay valid)"
        )
    try:
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise SignatureError(f"cannot create key directory {key_dir}: {exc.strerror}") from None


def _store(
    key_dir: Path, key: PrivateKey, passphrase: bytes | None, cert: x509.Certificate | None
) -> PersonalKey:
    private, public, cert_path = key_files(key_dir)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    try:
        write_private(private, pem)
        public.write_text(public_pem(key.public_key()), encoding="ascii")
        if cert is not None:
            cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        elif cert_path.exists():
            cert_path.unlink()
    except OSError as exc:
        raise SignatureError(f"cannot write the key in {key_dir}: {exc.strerror}") from None
    return PersonalKey(key, key_dir)


def create(
    key_dir: Path,
    *,
    algorithm: KeyAlgorithm = "ecdsa-p256",
    passphrase: bytes | None,
    force: bool = False,
) -> PersonalKey:
    """A new key pair in ``key_dir``, encrypted with ``passphrase`` when one is given."""
    if algorithm not in ALGORITHMS:
        raise SignatureError(f"unknown key algorithm {algorithm!r}: use ecdsa-p256 or ed25519")
    _prepare(key_dir, force=force)
    key: PrivateKey = (
        ed25519.Ed25519PrivateKey.generate()
        if algorithm == "ed25519"
        else ec.generate_private_key(ec.SECP256R1())
    )
    return _store(key_dir, key, passphrase, None)


def import_p12(
    key_dir: Path,
    bundle: Path,
    *,
    bundle_password: bytes | None,
    passphrase: bytes | None,
    force: bool = False,
) -> PersonalKey:
    """Take the key (and certificate) from a PKCS#12 file, e.g. one on a smart-card export."""
    try:
        with bundle.open("rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise SignatureError(f"{bundle}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise SignatureError(f"{bundle}: too large for a PKCS#12 key file")
    try:
        key, cert, _chain = pkcs12.load_key_and_certificates(data, bundle_password)
    except ValueError:
        raise SignatureError(f"{bundle}: not a PKCS#12 file, or the password is wrong") from None
    if key is None:
        raise SignatureError(f"{bundle}: the bundle holds no private key")
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ):
        raise SignatureError(f"{bundle}: only ECDSA P-256, Ed25519 and RSA keys can sign")
    load_public_key(public_pem(key.public_key()), where=str(bundle))  # curve and size rules
    _prepare(key_dir, force=force)
    return _store(key_dir, key, passphrase, cert)


def is_encrypted(key_dir: Path) -> bool:
    private, _, _ = key_files(key_dir)
    try:
        with private.open("rb") as handle:
            return b"ENCRYPTED" in handle.read(64)
    except OSError:
        return False


def exists(key_dir: Path) -> bool:
    return key_files(key_dir)[0].is_file()


def load(key_dir: Path, *, passphrase: bytes | None) -> PersonalKey:
    """Unlock the private key in ``key_dir``; errors say what to do."""
    private, _, _ = key_files(key_dir)
    try:
        with private.open("rb") as handle:
            pem = handle.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SignatureError(
            f"no personal key in {key_dir}; create one with `govern keys init` and ask an "
            "admin to enrol it"
        ) from None
    except OSError as exc:
        raise SignatureError(f"{private}: cannot read: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase or None)
    except TypeError:
        raise SignatureError(
            f"{private} is passphrase-protected: give the passphrase (GOVERN_KEY_PASSPHRASE, "
            "or when govern asks for it on a terminal or in the app)"
            if not passphrase
            else f"{private} is not passphrase-protected; unset GOVERN_KEY_PASSPHRASE"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise SignatureError(
            f"{private}: cannot unlock the key (wrong passphrase, or not a PEM private key)"
        ) from None
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ):
        raise SignatureError(f"{private}: only ECDSA P-256, Ed25519 and RSA keys can sign")
    return PersonalKey(key, key_dir)


def read_public(key_dir: Path) -> PublicKey:
    """The public half, readable without the passphrase."""
    _, public, _ = key_files(key_dir)
    try:
        with public.open("rb") as handle:
            return load_public_key(handle.read(MAX_KEY_FILE_BYTES), where=str(public))
    except FileNotFoundError:
        raise SignatureError(
            f"no personal key in {key_dir}; create one with `govern keys init`"
        ) from None
    except OSError as exc:
        raise SignatureError(f"{public}: cannot read: {exc.strerror}") from None


__all__ = [
    "ALGORITHMS",
    "KeyAlgorithm",
    "PersonalKey",
    "algorithm_of",
    "create",
    "exists",
    "fingerprint_of",
    "import_p12",
    "is_encrypted",
    "key_files",
    "load",
    "load_public_key",
    "public_pem",
    "read_public",
    "sign",
    "verify",
]


# --- checking many signatures at once (``audit verify``) ----------------------------------------

#: Below this many signatures a process pool costs more than it saves (about 0.3 s to start).
PARALLEL_FROM = 4_000


def _verify_chunk(items: list[tuple[str, bytes, bytes]]) -> list[int]:
    keys: dict[str, PublicKey | None] = {}
    failed = []
    for index, (pem, data, signature) in enumerate(items):
        public = keys.get(pem, False)
        if public is False:
            try:
                public = load_public_key(pem)
            except SignatureError:
                public = None
            keys[pem] = public
        if public is None or not verify(public, data, signature):
            failed.append(index)
    return failed


class SignatureChecks:
    """Signatures checked while the caller goes on reading: ``(public key PEM, data,
    signature)`` items go, in batches as they fill, to worker processes (OpenSSL's
    verification holds the interpreter lock), so reading the log and checking signatures
    overlap. Fewer than :data:`PARALLEL_FROM` expected items are checked in this process: a
    pool costs about 0.3 s to start.

    Use as a context manager; :meth:`failed` gives the indices of the items that do not verify.
    """

    BATCH = 5_000

    def __init__(self, expected: int, *, workers: int | None = None) -> None:
        self._items: list[tuple[str, bytes, bytes]] = []
        self._sent = 0
        self._futures: list[tuple[int, Any]] = []
        count = workers if workers is not None else (os.cpu_count() or 1)
        self._pool: Any = None
        if count >= 2 and expected >= PARALLEL_FROM:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # forkserver, not fork: the caller may be a threaded program (the TUI's workers).
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(max_workers=count, mp_context=context)

    def __enter__(self) -> SignatureChecks:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def add(self, public_key_pem: str, data: bytes, signature: bytes) -> None:
        self._items.append((public_key_pem, data, signature))
        if self._pool is not None and len(self._items) >= self.BATCH:
            self._send()

    def _send(self) -> None:
        batch, self._items = self._items, []
        self._futures.append((self._sent, self._pool.submit(_verify_chunk, batch)))
        self._sent += len(batch)

    def failed(self) -> list[int]:
        """Indices (in the order added) of the signatures that do not verify."""
        failed = [self._sent + index for index in _verify_chunk(self._items)]
        self._items = []
        for offset, future in self._futures:
            failed.extend(offset + index for index in future.result())
        self._futures = []
        return sorted(failed)


def verify_many(items: list[tuple[str, bytes, bytes]], *, workers: int | None = None) -> list[int]:
    """Indices of the ``(public key PEM, data, signature)`` items that do not verify."""
    with SignatureChecks(len(items), workers=workers) as checks:
        for item in items:
            checks.add(*item)
        return checks.failed()
