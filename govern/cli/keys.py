"""``govern keys``: your own signing key, enrolments, and ``govern keys org`` for the
organisation's card-signing key."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from govern.cli import output, runtime

keys_app = typer.Typer(
    help=(
        "Personal signing keys: `keys init|show|export` for your own key (it signs your "
        "actions), `keys enrol|revoke|list` for admins. The organisation's card-signing key "
        "is `keys org`."
    ),
    no_args_is_help=True,
)
org_app = typer.Typer(
    help=(
        "The organisation's card-signing key (signs PDF model cards; not a person's key): "
        "init, rotate, revoke, show, export."
    ),
    no_args_is_help=True,
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
P12_ENV = "GOVERN_P12_PASSWORD"
# The organisation key's options, shared by `org init` and `org rotate`.
OrgAlgorithm = Annotated[str, typer.Option("--algorithm", help="ecdsa-p256 (default) or rsa-3072.")]
CommonName = Annotated[str | None, typer.Option("--common-name", help="Certificate subject CN.")]
Organization = Annotated[str, typer.Option("--organization", help="Certificate subject O.")]
OrgImport = Annotated[
    Path | None, typer.Option("--import", help="Your CA's key and certificate (PKCS#12).")
]
P12PasswordEnv = Annotated[
    str,
    typer.Option("--p12-password-env", help="Environment variable holding the PKCS#12 password."),
]


def _new_passphrase(no_passphrase: bool) -> str | None:
    """GOVERN_KEY_PASSPHRASE, else asked twice on a terminal; None with --no-passphrase."""
    from govern.errors import InputError

    if no_passphrase:
        return None
    given = os.environ.get("GOVERN_KEY_PASSPHRASE")
    if given:
        return given
    if not sys.stdin.isatty():
        raise InputError(
            "a personal key is protected by a passphrase: set GOVERN_KEY_PASSPHRASE, run in a "
            "terminal to be asked, or give --no-passphrase (for a CI service account whose key "
            "lives in the CI's secret store)"
        )
    first = getpass.getpass("Passphrase for your new key: ")
    if len(first) < 8:
        raise InputError("choose a passphrase of at least 8 characters")
    if getpass.getpass("The same passphrase again: ") != first:
        raise InputError("the two passphrases differ; nothing was written")
    return first


@keys_app.command("init")
def init(
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="ecdsa-p256 (default) or ed25519.")
    ] = "ecdsa-p256",
    no_passphrase: Annotated[
        bool,
        typer.Option("--no-passphrase", help="Leave the private key unencrypted (CI, demos)."),
    ] = False,
    import_p12: Annotated[
        Path | None,
        typer.Option("--import", help="Take the key from a PKCS#12 file instead."),
    ] = None,
    p12_password_env: Annotated[
        str,
        typer.Option(
            "--p12-password-env", help="Environment variable holding the PKCS#12 password."
        ),
    ] = P12_ENV,
    force: Annotated[bool, typer.Option("--force", help="Replace your existing key.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Create YOUR personal signing key (mode 0600, passphrase-protected), or import one.

    Every action you take is signed with it; an admin enrols its public key in the catalogue
    (`govern keys export` prints it). The key lives in GOVERN_KEY_DIR (default
    $GOVERN_HOME/identity).
    """
    from govern.errors import InputError
    from govern.services import keys

    if algorithm not in {"ecdsa-p256", "ed25519"}:
        raise InputError(f"unknown --algorithm {algorithm!r}: use ecdsa-p256 or ed25519")
    info = keys.init_personal_key(
        runtime.settings(),
        algorithm=algorithm,  # type: ignore[arg-type]
        passphrase=_new_passphrase(no_passphrase),
        import_p12=import_p12,
        p12_password=os.environ.get(p12_password_env),
        force=force,
    )
    if json_out:
        output.emit_json(info.to_json())
        return
    output.line(
        f"Your key is ready in {info.key_dir} ({info.algorithm}"
        f"{', passphrase-protected' if info.encrypted else ', no passphrase'})."
    )
    output.line(f"Fingerprint: {info.fingerprint}")
    output.line(
        "Send the public key (`govern keys export`) to an admin, who enrols it with "
        "`govern keys enrol YOUR-NAME FILE`."
    )


@keys_app.command("show")
def show(json_out: JsonOption = False) -> None:
    """Show your personal key: algorithm, fingerprint, whether it is encrypted."""
    from govern.services import keys

    info = keys.show_personal_key(runtime.settings())
    if json_out:
        output.emit_json(info.to_json())
        return
    output.fields(
        [
            ("key directory", info.key_dir),
            ("algorithm", info.algorithm),
            ("fingerprint", info.fingerprint),
            ("passphrase", "yes" if info.encrypted else "no"),
        ]
    )


@keys_app.command("export")
def export(
    out: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the public key here.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing regular file (never a link or device)."),
    ] = False,
) -> None:
    """Print your public key (PEM), for an admin to enrol. The private key never leaves."""
    from govern.services import keys

    info = keys.show_personal_key(runtime.settings())
    if out is None:
        sys.stdout.write(info.public_key)
        return
    from govern import outputs

    outputs.write(out, info.public_key.encode("ascii"), force=force)
    output.info(f"Public key written to {out}.")


@keys_app.command("enrol")
def enrol(
    user: Annotated[str, typer.Argument(help="The user the key belongs to.", show_default=False)],
    public_key: Annotated[
        Path, typer.Argument(help="Their public key or certificate (PEM).", show_default=False)
    ],
    label: Annotated[str, typer.Option("--label", help="A note, e.g. 'laptop 2026'.")] = "",
    replace: Annotated[
        bool, typer.Option("--replace", help="Revoke their other keys (a rotation).")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Enrol a person's public key (admins only; signed and audited)."""
    from govern.services import keys

    row = keys.enrol_key(runtime.context(), user, public_key, label=label, replace=replace)
    if json_out:
        output.emit_json(row.to_json())
        return
    output.line(f"Enrolled {row.fingerprint} ({row.algorithm}) for {row.user}.")


@keys_app.command("revoke")
def revoke(
    fingerprint: Annotated[
        str, typer.Argument(help="The key's fingerprint (a unique prefix will do).")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (lost, left, compromised).")],
) -> None:
    """Revoke an enrolled key (admins only): nothing it signs from now on is accepted.

    What it signed before stays valid: each event is checked against the keys of its time.
    """
    from govern.services import keys

    row = keys.revoke_key(runtime.context(), fingerprint, reason=reason)
    output.line(f"Revoked {row.fingerprint} of {row.user}.")


@keys_app.command("list")
def list_(
    user: Annotated[str | None, typer.Option("--user-name", help="Only this user's keys.")] = None,
    json_out: JsonOption = False,
) -> None:
    """List the keys enrolled in the catalogue, active and revoked."""
    from govern.services import keys

    rows = keys.list_keys(runtime.context(), user=user)
    if json_out:
        output.emit_json([r.to_json() for r in rows])
        return
    output.table(
        ["user", "fingerprint", "algorithm", "status", "enrolled", "by", "label"],
        [
            (
                r.user,
                r.fingerprint[:23] + "…",
                r.algorithm,
                r.status,
                f"{r.enrolled_at:%Y-%m-%d}",
                r.enrolled_by,
                r.label,
            )
            for r in rows
        ],
    )


# --- the organisation's key -------------------------------------------------------------------


@org_app.command("init")
def org_init(
    algorithm: OrgAlgorithm = "ecdsa-p256",
    common_name: CommonName = None,
    organization: Organization = "",
    import_p12: OrgImport = None,
    p12_password_env: P12PasswordEnv = P12_ENV,
    existing: Annotated[
        bool,
        typer.Option("--existing", help="Adopt the key already in GOVERN_ORG_KEY_DIR."),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Create the organisation's card-signing key and certificate (admins only).

    The key goes to GOVERN_ORG_KEY_DIR (default $GOVERN_HOME/keys), encrypted when
    GOVERN_ORG_KEY_PASSPHRASE is set; its certificate is recorded in the catalogue.
    """
    from govern.services import keys

    row = keys.org_init(
        runtime.context(),
        algorithm=algorithm,  # type: ignore[arg-type]
        common_name=common_name,
        organization=organization,
        import_p12=import_p12,
        p12_password=os.environ.get(p12_password_env),
        existing=existing,
    )
    if json_out:
        output.emit_json(row.to_json())
        return
    output.line(f"The organisation signs model cards as {row.subject} ({row.algorithm}).")
    output.line(f"Certificate SHA-256: {row.fingerprint}")


@org_app.command("rotate")
def org_rotate(
    algorithm: OrgAlgorithm = "ecdsa-p256",
    common_name: CommonName = None,
    organization: Organization = "",
    import_p12: OrgImport = None,
    p12_password_env: P12PasswordEnv = P12_ENV,
) -> None:
    """Replace the card-signing key (admins only). Cards signed before still verify: the
    old certificate stays in the catalogue, retired, and its key moves to retired/."""
    from govern.services import keys

    row = keys.org_rotate(
        runtime.context(),
        algorithm=algorithm,  # type: ignore[arg-type]
        common_name=common_name,
        organization=organization,
        import_p12=import_p12,
        p12_password=os.environ.get(p12_password_env),
    )
    output.line(f"New card-signing certificate {row.fingerprint} ({row.subject}).")


@org_app.command("revoke")
def org_revoke(
    fingerprint: Annotated[str, typer.Argument(help="The certificate's SHA-256 (a prefix).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (compromised, mis-issued).")],
) -> None:
    """Revoke an organisation certificate (admins only): cards it signed stop verifying."""
    from govern.services import keys

    row = keys.org_revoke(runtime.context(), fingerprint, reason=reason)
    output.line(f"Revoked the organisation certificate {row.fingerprint}.")


@org_app.command("show")
def org_show(json_out: JsonOption = False) -> None:
    """Every certificate the organisation has signed cards with, and the key on this machine."""
    from govern.errors import GovernError
    from govern.services import keys

    rows = keys.org_certificates(runtime.context())
    try:
        local = keys.show_org_key(runtime.settings())
    except GovernError:
        local = None
    if json_out:
        output.emit_json(
            {
                "certificates": [r.to_json() for r in rows],
                "local_key": local.to_json() if local else None,
            }
        )
        return
    output.table(
        ["fingerprint", "subject", "algorithm", "status", "added", "by"],
        [
            (
                r.fingerprint[:16] + "…",
                r.subject,
                r.algorithm,
                r.status,
                f"{r.added_at:%Y-%m-%d}",
                r.added_by,
            )
            for r in rows
        ],
    )
    if local is not None:
        output.line(f"This machine's key ({local.key_dir}): {local.fingerprint_sha256[:16]}…")


@org_app.command("export")
def org_export(
    out: Annotated[
        Path, typer.Option("-o", "--output", help="PEM file to write.", show_default=False)
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing regular file (never a link or device)."),
    ] = False,
) -> None:
    """Write the organisation's certificates (all but revoked) for auditors to trust:
    `govern verify card.pdf --trust FILE`, or their PDF reader's trusted identities."""
    from govern.services import keys

    rows = keys.org_export(runtime.context(), out, force=force)
    output.line(f"Wrote {len(rows)} certificate(s) to {out}.")


def add_commands(app: typer.Typer) -> None:
    keys_app.add_typer(org_app, name="org")
    app.add_typer(keys_app, name="keys")
