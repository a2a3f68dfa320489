"""``govern keys init|show``: the instance signing key and certificate."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from govern.cli import output, runtime

keys_app = typer.Typer(
    help="The instance signing key (signs audit checkpoints and model cards).", no_args_is_help=True
)


@keys_app.command("init")
def init(
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="ecdsa-p256 (default) or rsa-3072.")
    ] = "ecdsa-p256",
    common_name: Annotated[
        str | None, typer.Option("--common-name", help="Certificate subject CN.")
    ] = None,
    organization: Annotated[
        str, typer.Option("--organization", help="Certificate subject O.")
    ] = "",
    import_p12: Annotated[
        Path | None,
        typer.Option("--import", help="Import key and certificate from a PKCS#12 file."),
    ] = None,
    p12_password_env: Annotated[
        str,
        typer.Option(
            "--p12-password-env", help="Environment variable holding the PKCS#12 password."
        ),
    ] = "GOVERN_P12_PASSWORD",  # noqa: S107 - the name of a variable, not a password
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create the signing key and a self-signed X.509 certificate, or import a PKCS#12.

    The private key is written with mode 0600 and encrypted when GOVERN_KEY_PASSPHRASE is set.
    """
    from govern.errors import InputError
    from govern.services import keys

    if algorithm not in {"ecdsa-p256", "rsa-3072"}:
        raise InputError(f"unknown --algorithm {algorithm!r}: use ecdsa-p256 or rsa-3072")
    info = keys.init_keys(
        runtime.settings(),
        algorithm=algorithm,  # type: ignore[arg-type]
        common_name=common_name,
        organization=organization,
        import_p12=import_p12,
        p12_password=os.environ.get(p12_password_env),
        force=force,
    )
    if json_out:
        output.emit_json(info.to_json())
        return
    output.line(
        f"Signing key ready in {info.key_dir} ({info.algorithm}"
        f"{', passphrase-protected' if info.encrypted else ''})."
    )
    output.line(f"Certificate: {info.subject}")
    output.line(f"SHA-256 fingerprint: {info.fingerprint_sha256}")


@keys_app.command("show")
def show(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the signing certificate: subject, algorithm, validity, fingerprint."""
    from govern.services import keys

    info = keys.show_keys(runtime.settings())
    if json_out:
        output.emit_json(info.to_json())
        return
    output.fields(
        [
            ("key directory", info.key_dir),
            ("subject", info.subject),
            ("issuer", info.issuer + (" (self-signed)" if info.self_signed else "")),
            ("algorithm", info.algorithm),
            ("valid", f"{info.not_before} .. {info.not_after}"),
            ("fingerprint", info.fingerprint_sha256),
            ("key encrypted", "yes" if info.encrypted else "no"),
        ]
    )


def add_commands(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
