"""Keys: each person's own signing key, their enrolment, and the organisation's card key.

Two kinds of key, kept apart in name and place:

* **Personal keys** (``govern keys init|show|export``; ``GOVERN_KEY_DIR``) sign a person's
  own actions. An admin enrols the public key (``govern keys enrol``, or ``govern users add
  --key``), rotates it (``--replace``) or revokes it; each is a signed, audited action.
* **The organisation's key** (``govern keys org init|rotate|revoke|show|export``;
  ``GOVERN_ORG_KEY_DIR``) signs PDF model cards. Its certificates are catalogue data: a
  rotation keeps every earlier certificate, so cards signed before it still verify and say
  which key signed them; ``govern report`` signs only with the catalogue's active one.
"""

from __future__ import annotations

import datetime as dt
import getpass
import shutil
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from govern import outputs, personal_keys, signing
from govern.config import Settings
from govern.domain.roles import Role
from govern.errors import ConfigError, ConflictError, InputError, NotFoundError, SignatureError
from govern.services.context import Context
from govern.services.views import KeyInfo, View
from govern.storage import crud
from govern.storage.database import Session
from govern.storage.tables import OrgCertificate, UserKey, utcnow

#: How large a public key or certificate file an admin may enrol.
MAX_PUBLIC_KEY_BYTES = 64_000


class PersonalKeyInfo(View):
    """A person's own key, as ``govern keys show`` prints it."""

    key_dir: str
    algorithm: str
    fingerprint: str
    encrypted: bool
    public_key: str


class EnrolledKey(View):
    """A key enrolled in the catalogue."""

    user: str
    fingerprint: str
    algorithm: str
    label: str
    status: str
    enrolled_at: dt.datetime
    enrolled_by: str
    revoked_at: dt.datetime | None = None
    revoked_by: str | None = None
    revoked_reason: str | None = None


class OrgCertificatePublic(View):
    fingerprint: str
    subject: str
    algorithm: str
    status: str
    added_at: dt.datetime
    added_by: str
    changed_at: dt.datetime | None = None
    reason: str | None = None


# --- a person's own key ---------------------------------------------------------------------


def init_personal_key(
    settings: Settings,
    *,
    algorithm: personal_keys.KeyAlgorithm = "ecdsa-p256",
    passphrase: str | None,
    import_p12: Path | None = None,
    p12_password: str | None = None,
    force: bool = False,
) -> PersonalKeyInfo:
    """Create (or import from PKCS#12) the person's key; ``passphrase=None`` leaves it plain."""
    key_dir = settings.resolved_key_dir
    secret = passphrase.encode("utf-8") if passphrase else None
    if import_p12 is not None:
        personal_keys.import_p12(
            key_dir,
            import_p12,
            bundle_password=p12_password.encode("utf-8") if p12_password else None,
            passphrase=secret,
            force=force,
        )
    else:
        personal_keys.create(key_dir, algorithm=algorithm, passphrase=secret, force=force)
    return show_personal_key(settings)


def show_personal_key(settings: Settings) -> PersonalKeyInfo:
    key_dir = settings.resolved_key_dir
    public = personal_keys.read_public(key_dir)
    if not personal_keys.exists(key_dir):
        raise SignatureError(f"no personal key in {key_dir}; create one with `govern keys init`")
    return PersonalKeyInfo(
        key_dir=str(key_dir),
        algorithm=personal_keys.algorithm_of(public),
        fingerprint=personal_keys.fingerprint_of(public),
        encrypted=personal_keys.is_encrypted(key_dir),
        public_key=personal_keys.public_pem(public),
    )


# --- enrolment --------------------------------------------------------------------------------


def read_public_key_file(path: Path) -> str:
    """The PEM text of a public key or certificate file an admin was given (exit 2 if not)."""
    try:
        if path.is_dir():
            raise InputError(f"{path}: is a directory, expected a public key file")
        with path.open("rb") as handle:
            data = handle.read(MAX_PUBLIC_KEY_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such public key file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if not data.strip():
        raise InputError(f"{path}: public key file is empty")
    if len(data) > MAX_PUBLIC_KEY_BYTES:
        raise InputError(f"{path}: too large for a public key")
    try:
        public = personal_keys.load_public_key(data, where=str(path))
    except SignatureError as exc:
        raise InputError(exc.message) from None
    return personal_keys.public_pem(public)


def key_payload(pem: str, *, user: str, label: str) -> dict[str, str]:
    """What a ``key.enrol`` event (or the bootstrap in ``catalogue.init``) records."""
    public = personal_keys.load_public_key(pem)
    return {
        "user": user,
        "fingerprint": personal_keys.fingerprint_of(public),
        "algorithm": personal_keys.algorithm_of(public),
        "public_key": personal_keys.public_pem(public),
        "label": label,
    }


def store_key(session: Session, recorded: dict[str, str], *, enrolled_by: str) -> UserKey:
    """Add the row of an enrolment whose event records ``recorded``."""
    if crud.get_key(session=session, fingerprint=recorded["fingerprint"]) is not None:
        raise ConflictError(
            f"the key {recorded['fingerprint'][:23]}… is already enrolled; every person needs "
            "a key of their own"
        )
    row = UserKey(
        user_name=recorded["user"],
        fingerprint=recorded["fingerprint"],
        algorithm=recorded["algorithm"],
        public_key=recorded["public_key"],
        label=recorded["label"],
        enrolled_by=enrolled_by,
    )
    session.add(row)
    session.flush()
    return row


def _enrolled(row: UserKey) -> EnrolledKey:
    return EnrolledKey(
        user=row.user_name,
        fingerprint=row.fingerprint,
        algorithm=row.algorithm,
        label=row.label,
        status=row.status,
        enrolled_at=row.enrolled_at,
        enrolled_by=row.enrolled_by,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        revoked_reason=row.revoked_reason,
    )


def enrol_key(
    ctx: Context, user: str, public_key: Path, *, label: str = "", replace: bool = False
) -> EnrolledKey:
    """Enrol ``user``'s public key (admin only); ``replace`` revokes their other keys.

    Actions a person signed with a key before it was replaced or revoked stay valid: the log
    checks each event against the key enrolled when it was taken.
    """
    pem = read_public_key_file(public_key)
    label = label.strip()
    if len(label) > 200 or any(not ch.isprintable() for ch in label):
        raise InputError("a key label is at most 200 printable characters")
    with ctx.write("key.enrol", f"user:{user}") as tx:
        ctx.require_role(tx.session, [Role.ADMIN], doing=f"enrol a key for {user}")
        person = crud.find_user(session=tx.session, name=user)
        if person is None:
            raise NotFoundError(f"no user {user!r} in this catalogue")
        tx.subject = f"user:{person.name}"
        recorded = key_payload(pem, user=person.name, label=label)
        replaced = []
        if replace:
            for old in crud.keys_of(session=tx.session, user=person.name):
                if old.status == "active":
                    revoke_row(old, by=tx.actor, reason=f"replaced by {recorded['fingerprint']}")
                    tx.session.add(old)
                    replaced.append(old.fingerprint)
        row = store_key(tx.session, recorded, enrolled_by=tx.actor)
        tx.audit(**recorded, replaces=replaced)
        return _enrolled(row)


def revoke_row(row: UserKey, *, by: str, reason: str) -> None:
    row.status = "revoked"
    row.revoked_at = utcnow()
    row.revoked_by = by
    row.revoked_reason = reason


def revoke_key(ctx: Context, fingerprint: str, *, reason: str) -> EnrolledKey:
    """Revoke an enrolled key (admin only): nothing it signs from now on is accepted."""
    reason = reason.strip()
    if len(reason) < 3:
        raise InputError("say why the key is revoked (--reason)")
    with ctx.write("key.revoke", "") as tx:
        ctx.require_role(tx.session, [Role.ADMIN], doing="revoke a key")
        row = _find_key(tx.session, fingerprint)
        if row.status != "active":
            raise ConflictError(f"the key {row.fingerprint[:23]}… is already {row.status}")
        tx.subject = f"user:{row.user_name}"
        revoke_row(row, by=tx.actor, reason=reason)
        tx.session.add(row)
        tx.session.flush()
        tx.audit(user=row.user_name, fingerprint=row.fingerprint, reason=reason)
        return _enrolled(row)


def _find_key(session: Session, fingerprint: str) -> UserKey:
    wanted = fingerprint.strip().lower()
    if not wanted.startswith("sha256:"):
        wanted = "sha256:" + wanted
    matches = [k for k in crud.keys_of(session=session) if k.fingerprint.startswith(wanted)]
    if len(wanted) < len("sha256:") + 8 or not matches:
        raise NotFoundError(f"no enrolled key with fingerprint {fingerprint!r}")
    if len(matches) > 1:
        raise InputError(f"{fingerprint!r} matches {len(matches)} keys; give more of it")
    return matches[0]


def list_keys(ctx: Context, *, user: str | None = None) -> list[EnrolledKey]:
    with ctx.read() as session:
        name = None
        if user is not None:
            person = crud.find_user(session=session, name=user)
            if person is None:
                raise NotFoundError(f"no user {user!r} in this catalogue")
            name = person.name
        return [_enrolled(row) for row in crud.keys_of(session=session, user=name)]


# --- the organisation's card-signing key --------------------------------------------------------


def _org_passphrase(settings: Settings) -> bytes | None:
    secret = settings.org_key_passphrase
    return secret.get_secret_value().encode("utf-8") if secret else None


def _org_public(row: OrgCertificate) -> OrgCertificatePublic:
    return OrgCertificatePublic(
        fingerprint=row.fingerprint,
        subject=row.subject,
        algorithm=row.algorithm,
        status=row.status,
        added_at=row.added_at,
        added_by=row.added_by,
        changed_at=row.changed_at,
        reason=row.reason,
    )


def certificate_payload(certificate: x509.Certificate, how: str) -> dict[str, str]:
    info = signing.describe(certificate)
    return {
        "fingerprint": info["fingerprint_sha256"],
        "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "subject": info["subject"],
        "algorithm": info["algorithm"],
        "how": how,
    }


def add_org_certificate(session: Session, recorded: dict[str, str], *, added_by: str) -> None:
    session.add(
        OrgCertificate(
            fingerprint=recorded["fingerprint"],
            certificate=recorded["certificate"],
            subject=recorded["subject"],
            algorithm=recorded["algorithm"],
            added_by=added_by,
        )
    )
    session.flush()


def _active(session: Session) -> OrgCertificate | None:
    return next((c for c in crud.org_certificates(session=session) if c.status == "active"), None)


def _check_org_algorithm(algorithm: str) -> None:
    """Refuse an unknown algorithm before anything is read, moved or written."""
    if algorithm not in ("ecdsa-p256", "rsa-3072"):
        raise InputError(f"unknown --algorithm {algorithm!r}: use ecdsa-p256 or rsa-3072")


def _make_org_key(
    settings: Settings,
    *,
    algorithm: signing.Algorithm,
    common_name: str | None,
    organization: str,
    import_p12: Path | None,
    p12_password: str | None,
) -> signing.SigningIdentity:
    key_dir = settings.resolved_org_key_dir
    if import_p12 is not None:
        return signing.import_pkcs12(
            key_dir,
            import_p12,
            bundle_password=p12_password.encode("utf-8") if p12_password else None,
            passphrase=_org_passphrase(settings),
        )
    name = common_name or f"govern model cards {getpass.getuser()}@{socket.gethostname()}"
    return signing.create_identity(
        key_dir,
        common_name=name,
        organization=organization,
        algorithm=algorithm,
        passphrase=_org_passphrase(settings),
    )


def org_init(
    ctx: Context,
    *,
    algorithm: signing.Algorithm = "ecdsa-p256",
    common_name: str | None = None,
    organization: str = "",
    import_p12: Path | None = None,
    p12_password: str | None = None,
    existing: bool = False,
) -> OrgCertificatePublic:
    """Create (or import, or with ``existing`` adopt) the card-signing key (admin only).

    Refuses when the catalogue already has an active organisation certificate (use
    :func:`org_rotate`) or when the key directory already holds a key (use ``existing``):
    a key is never replaced silently.
    """
    _check_org_algorithm(algorithm)
    key_dir = ctx.settings.resolved_org_key_dir
    with ctx.write("org_key.add", "org") as tx:
        ctx.require_role(tx.session, [Role.ADMIN], doing="set up the organisation's key")
        current = _active(tx.session)
        if current is not None:
            raise ConflictError(
                f"this catalogue already signs cards with {current.subject} "
                f"({current.fingerprint[:16]}…); replace it with `govern keys org rotate`"
            )
        if existing:
            identity = signing.load_identity(key_dir, passphrase=_org_passphrase(ctx.settings))
            how = "existing"
        else:
            if signing.key_paths(key_dir)[0].exists():
                raise ConflictError(
                    f"an organisation key already exists in {key_dir}; adopt it with "
                    "`govern keys org init --existing`, or replace it with `govern keys org "
                    "rotate`"
                )
            identity = _make_org_key(
                ctx.settings,
                algorithm=algorithm,
                common_name=common_name,
                organization=organization,
                import_p12=import_p12,
                p12_password=p12_password,
            )
            how = "imported" if import_p12 is not None else "created"
        recorded = certificate_payload(identity.certificate, how)
        if tx.session.get(OrgCertificate, recorded["fingerprint"]) is not None:
            raise ConflictError("that certificate was retired or revoked in this catalogue")
        add_org_certificate(tx.session, recorded, added_by=tx.actor)
        tx.audit(**recorded)
        row = tx.session.get(OrgCertificate, recorded["fingerprint"])
        assert row is not None
        return _org_public(row)


def org_rotate(
    ctx: Context,
    *,
    algorithm: signing.Algorithm = "ecdsa-p256",
    common_name: str | None = None,
    organization: str = "",
    import_p12: Path | None = None,
    p12_password: str | None = None,
) -> OrgCertificatePublic:
    """Replace the card-signing key (admin only). The old certificate stays in the catalogue
    (retired), so cards it signed still verify; the old key files move to ``retired/``."""
    _check_org_algorithm(algorithm)
    key_dir = ctx.settings.resolved_org_key_dir
    with ctx.write("org_key.rotate", "org") as tx:
        ctx.require_role(tx.session, [Role.ADMIN], doing="rotate the organisation's key")
        current = _active(tx.session)
        if current is None:
            raise NotFoundError(
                "this catalogue has no organisation key to rotate; create one with "
                "`govern keys org init`"
            )
        archive = key_dir / "retired" / current.fingerprint[:16]
        moved = _archive(key_dir, archive)
        try:
            identity = _make_org_key(
                ctx.settings,
                algorithm=algorithm,
                common_name=common_name,
                organization=organization,
                import_p12=import_p12,
                p12_password=p12_password,
            )
        except BaseException:
            _restore(moved, key_dir)
            raise
        recorded = certificate_payload(
            identity.certificate, "imported" if import_p12 else "created"
        )
        current.status = "retired"
        current.changed_at = utcnow()
        current.reason = f"rotated to {recorded['fingerprint']}"
        tx.session.add(current)
        add_org_certificate(tx.session, recorded, added_by=tx.actor)
        tx.audit(**recorded, retired=current.fingerprint)
        row = tx.session.get(OrgCertificate, recorded["fingerprint"])
        assert row is not None
        return _org_public(row)


def _archive(key_dir: Path, archive: Path) -> list[Path]:
    """Move the key files into ``archive`` (never delete a key); returns the moved files."""
    moved = []
    archive.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path in signing.key_paths(key_dir):
        if path.exists():
            target = archive / path.name
            shutil.move(path, target)
            moved.append(target)
    return moved


def _restore(moved: list[Path], key_dir: Path) -> None:
    for path in moved:
        shutil.move(path, key_dir / path.name)


def org_revoke(ctx: Context, fingerprint: str, *, reason: str) -> OrgCertificatePublic:
    """Revoke an organisation certificate (admin only): cards it signed no longer verify."""
    reason = reason.strip()
    if len(reason) < 3:
        raise InputError("say why the certificate is revoked (--reason)")
    with ctx.write("org_key.revoke", "org") as tx:
        ctx.require_role(tx.session, [Role.ADMIN], doing="revoke an organisation certificate")
        wanted = fingerprint.strip().lower().removeprefix("sha256:")
        matches = [
            c
            for c in crud.org_certificates(session=tx.session)
            if len(wanted) >= 8 and c.fingerprint.startswith(wanted)
        ]
        if len(matches) != 1:
            raise NotFoundError(f"no single organisation certificate matches {fingerprint!r}")
        row = matches[0]
        if row.status == "revoked":
            raise ConflictError(f"certificate {row.fingerprint[:16]}… is already revoked")
        row.status = "revoked"
        row.changed_at = utcnow()
        row.reason = reason
        tx.session.add(row)
        tx.session.flush()
        tx.audit(fingerprint=row.fingerprint, reason=reason)
        return _org_public(row)


def org_certificates(ctx: Context) -> list[OrgCertificatePublic]:
    with ctx.read() as session:
        return [_org_public(row) for row in crud.org_certificates(session=session)]


def org_export(ctx: Context, output: Path, *, force: bool = False) -> list[OrgCertificatePublic]:
    """Write every non-revoked organisation certificate (PEM) for auditors to trust.

    The output is a new file, or a regular one with ``force`` (``govern.outputs``).
    """
    outputs.check_target(output, force=force)
    with ctx.read() as session:
        rows = [c for c in crud.org_certificates(session=session) if c.status != "revoked"]
        if not rows:
            raise NotFoundError("this catalogue has no organisation certificate to export")
        text = "".join(
            f"# {row.subject} ({row.status}, added {row.added_at:%Y-%m-%d} by {row.added_by})\n"
            f"# SHA-256 fingerprint {row.fingerprint}\n{row.certificate}"
            for row in rows
        )
        public = [_org_public(row) for row in rows]
    outputs.write(output, text.encode("ascii"), journal=ctx.pending_dir, force=force)
    return public


def show_org_key(settings: Settings) -> KeyInfo:
    """The organisation key on this machine (``GOVERN_ORG_KEY_DIR``)."""
    key_dir = settings.resolved_org_key_dir
    certificate = signing.load_certificate(key_dir)
    key_path = signing.key_paths(key_dir)[0]
    if not key_path.exists():
        raise SignatureError(
            f"no organisation key in {key_dir}; an admin creates it with `govern keys org init`"
        )
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


def load_org_identity(ctx: Context, session: Session) -> signing.SigningIdentity:
    """The card-signing key on this machine, if it is the catalogue's active certificate."""
    key_dir = ctx.settings.resolved_org_key_dir
    try:
        identity = signing.load_identity(key_dir, passphrase=_org_passphrase(ctx.settings))
    except SignatureError as problem:
        # signing's advice is about a key in general; this is the organisation's.
        raise SignatureError(
            f"cannot use the organisation's card-signing key in {key_dir} "
            "(GOVERN_ORG_KEY_DIR): "
            + problem.message.replace("GOVERN_KEY_PASSPHRASE", "GOVERN_ORG_KEY_PASSPHRASE").replace(
                "`govern keys init`", "`govern keys org init` (admins)"
            )
        ) from None
    active = _active(session)
    if active is None:
        raise SignatureError(
            "this catalogue has no organisation key to sign cards with; an admin creates one "
            "with `govern keys org init`"
        )
    if active.fingerprint != identity.fingerprint:
        known = session.get(OrgCertificate, identity.fingerprint)
        why = f"it was {known.status}" if known is not None else "the catalogue does not know it"
        raise SignatureError(
            f"the organisation key in {ctx.settings.resolved_org_key_dir} "
            f"({identity.fingerprint[:16]}…) is not this catalogue's card-signing key "
            f"({active.fingerprint[:16]}…): {why}"
        )
    return identity


def trusted_certificates(settings: Settings) -> list[x509.Certificate]:
    """The certificates named in ``GOVERN_TRUSTED_CERTIFICATES``."""
    trusted = []
    for path in settings.trusted_certificates:
        try:
            trusted.extend(signing.read_certificates(path))
        except SignatureError as exc:
            raise ConfigError(f"GOVERN_TRUSTED_CERTIFICATES: {exc.message}") from None
    return trusted


def catalogue_certificates(ctx: Context) -> list[tuple[x509.Certificate, OrgCertificatePublic]]:
    """Every organisation certificate the catalogue holds, with its status."""
    with ctx.read() as session:
        return [
            (x509.load_pem_x509_certificate(row.certificate.encode("ascii")), _org_public(row))
            for row in crud.org_certificates(session=session)
        ]


__all__ = [
    "EnrolledKey",
    "OrgCertificatePublic",
    "PersonalKeyInfo",
    "catalogue_certificates",
    "enrol_key",
    "init_personal_key",
    "key_payload",
    "list_keys",
    "load_org_identity",
    "org_certificates",
    "org_export",
    "org_init",
    "org_revoke",
    "org_rotate",
    "read_public_key_file",
    "revoke_key",
    "show_org_key",
    "show_personal_key",
    "store_key",
    "trusted_certificates",
]
