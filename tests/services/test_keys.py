"""`govern keys`: a person's own key (init, show, export, enrol, revoke), and `govern keys org`
for the organisation's card-signing key (init, rotate, revoke, export).

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
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from govern import personal_keys, signing
from tests.conftest import invoke_cli, key_dir, public_key, run_cli
from tests.helpers import assert_clean_failure


@pytest.fixture
def mine(tmp_path: Path) -> Path:
    """A new person's key directory, empty."""
    return tmp_path / "me"


def keys_json(*args: str, env: dict[str, str] | None = None, db: str | None = None) -> dict:
    result = invoke_cli("keys", *args, "--json", env=env, db=db)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- a person's own key ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "algorithm", "key_type"),
    [
        ((), "ecdsa-p256", ec.EllipticCurvePrivateKey),
        (("--algorithm", "ed25519"), "ed25519", ed25519.Ed25519PrivateKey),
    ],
)
def test_keys_init_creates_a_personal_key(mine, args, algorithm, key_type):
    env = {"GOVERN_KEY_DIR": str(mine)}
    info = keys_json("init", *args, "--no-passphrase", env=env)
    assert info["algorithm"] == algorithm and info["encrypted"] is False
    private = mine / "identity-key.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(mine.stat().st_mode) & 0o077 == 0
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert isinstance(key, key_type)
    assert info["fingerprint"] == personal_keys.fingerprint_of(key.public_key())
    exported = run_cli("keys", "export", env=env)
    assert exported.returncode == 0 and exported.stdout == info["public_key"]
    assert "PRIVATE" not in exported.stdout


def test_unknown_algorithm_is_refused(mine):
    result = run_cli("keys", "init", "--algorithm", "dsa-1024", "--no-passphrase",
                     env={"GOVERN_KEY_DIR": str(mine)})  # fmt: skip
    lines = assert_clean_failure(result)
    assert len(lines) == 1 and "dsa-1024" in lines[0]
    assert not mine.exists()


def test_a_key_needs_a_passphrase_unless_said_otherwise(mine):
    """Without a terminal to ask on, no passphrase and no --no-passphrase is a usage error."""
    lines = assert_clean_failure(invoke_cli("keys", "init", env={"GOVERN_KEY_DIR": str(mine)}))
    assert len(lines) == 1 and "--no-passphrase" in lines[0]
    assert not mine.exists()


def test_passphrase_encrypts_the_key_and_is_needed_to_act(sqlite_cat, mine):
    secret = "correct horse battery staple"
    env = {"GOVERN_KEY_DIR": str(mine), "GOVERN_KEY_PASSPHRASE": secret}
    info = keys_json("init", env=env)
    assert info["encrypted"] is True
    pem = (mine / "identity-key.pem").read_bytes()
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in pem
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, password=None)
    public = mine / "identity.pub.pem"
    added = invoke_cli("users", "add", "zoe", "--role", "developer", "--key", str(public),
                       db=sqlite_cat.url)  # fmt: skip
    assert added.returncode == 0, added.stderr

    args = ("register", str(Path(__file__).parent.parent / "data/cards/minimal.card.yaml"))
    base = {"GOVERN_KEY_DIR": str(mine), "GOVERN_USER": "zoe"}
    missing = assert_clean_failure(run_cli(*args, db=sqlite_cat.url, env=base))
    assert len(missing) == 1 and "passphrase-protected" in missing[0]
    wrong = assert_clean_failure(
        run_cli(*args, db=sqlite_cat.url, env={**base, "GOVERN_KEY_PASSPHRASE": "wrong"})
    )
    assert len(wrong) == 1 and "wrong passphrase" in wrong[0]
    good = run_cli(*args, db=sqlite_cat.url, env={**base, "GOVERN_KEY_PASSPHRASE": secret})
    assert good.returncode == 0, good.stderr


def test_refuses_to_overwrite_without_force(mine):
    env = {"GOVERN_KEY_DIR": str(mine)}
    first = keys_json("init", "--no-passphrase", env=env)
    before = (mine / "identity-key.pem").read_bytes()
    lines = assert_clean_failure(run_cli("keys", "init", "--no-passphrase", env=env))
    assert len(lines) == 1 and "already exists" in lines[0] and "--force" in lines[0]
    assert (mine / "identity-key.pem").read_bytes() == before
    replaced = keys_json("init", "--no-passphrase", "--force", env=env)
    assert replaced["fingerprint"] != first["fingerprint"]


def test_keys_show(mine):
    env = {"GOVERN_KEY_DIR": str(mine)}
    missing = assert_clean_failure(run_cli("keys", "show", env=env))
    assert len(missing) == 1 and "govern keys init" in missing[0]
    made = keys_json("init", "--no-passphrase", env=env)
    result = run_cli("keys", "show", env=env)
    assert result.returncode == 0, result.stderr
    assert made["fingerprint"] in result.stdout
    assert " ".join(result.stdout.split()).count("passphrase: no") == 1
    assert keys_json("show", env=env) == made


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


def test_import_a_personal_key_from_pkcs12(mine, tmp_path):
    bundle = tmp_path / "me.p12"
    cert = _bundle(bundle, b"s3cret")
    env = {"GOVERN_KEY_DIR": str(mine), "GOVERN_P12_PASSWORD": "s3cret"}
    result = run_cli("keys", "init", "--import", str(bundle), "--no-passphrase", env=env)
    assert result.returncode == 0, result.stderr
    info = keys_json("show", env=env)
    assert info["algorithm"] == "rsa-2048"
    assert info["fingerprint"] == personal_keys.fingerprint_of(cert.public_key())
    assert (mine / "identity-cert.pem").is_file()
    assert stat.S_IMODE((mine / "identity-key.pem").stat().st_mode) == 0o600


@pytest.mark.parametrize("case", ["wrong-password", "no-password", "not-p12", "missing"])
def test_bad_pkcs12_is_refused_and_nothing_is_written(mine, tmp_path, case):
    bundle = tmp_path / "me.p12"
    env = {"GOVERN_KEY_DIR": str(mine), "GOVERN_P12_PASSWORD": "s3cret"}
    if case == "wrong-password":
        _bundle(bundle, b"s3cret")
        env["GOVERN_P12_PASSWORD"] = "guess"
    elif case == "no-password":
        _bundle(bundle, b"s3cret")
        del env["GOVERN_P12_PASSWORD"]
    elif case == "not-p12":
        bundle.write_bytes(b"-----BEGIN CERTIFICATE-----\nnope\n")
    result = invoke_cli("keys", "init", "--import", str(bundle), "--no-passphrase", env=env)
    lines = assert_clean_failure(result)
    assert len(lines) == 1 and str(bundle) in lines[0]
    expected = {
        "wrong-password": "password is wrong",
        "no-password": "password is wrong",
        "not-p12": "not a PKCS#12 file",
        "missing": "cannot read",
    }[case]
    assert expected in lines[0]
    assert not (mine / "identity-key.pem").exists()


def test_damaged_key_files_are_reported(sqlite_cat):
    (key_dir("alice") / "identity-key.pem").write_text("not a key\n")
    result = run_cli("register", str(Path(__file__).parent.parent / "data/cards/minimal.card.yaml"),
                     db=sqlite_cat.url, user="alice")  # fmt: skip
    lines = assert_clean_failure(result)
    assert len(lines) == 1 and "cannot unlock the key" in lines[0]
    (key_dir("alice") / "identity.pub.pem").write_text("garbage\n")
    lines = assert_clean_failure(run_cli("keys", "show", user="alice"))
    assert len(lines) == 1 and "not a PEM public key" in lines[0]


# --- enrolment ---------------------------------------------------------------------------------


def test_an_admin_enrols_rotates_and_revokes_keys(sqlite_cat, tmp_path):
    url = sqlite_cat.url
    new = tmp_path / "alice-laptop"
    personal_keys.create(new, passphrase=None)
    refused = invoke_cli("keys", "enrol", "alice", str(new / "identity.pub.pem"), user="bob",
                         db=url)  # fmt: skip
    assert "bob is a validator and cannot enrol a key" in assert_clean_failure(refused)[0]
    rotated = keys_json("enrol", "alice", str(new / "identity.pub.pem"), "--replace",
                        "--label", "laptop 2026", db=url)  # fmt: skip
    assert rotated["user"] == "alice" and rotated["label"] == "laptop 2026"
    listed = {k["fingerprint"]: k for k in keys_json("list", "--user-name", "alice", db=url)}
    old = personal_keys.fingerprint_of(personal_keys.read_public(key_dir("alice")))
    assert (
        listed[old]["status"] == "revoked" and listed[rotated["fingerprint"]]["status"] == "active"
    )
    # The old key can no longer act; the new one can; the log still verifies as a whole.
    register = ("register", str(Path(__file__).parent.parent / "data/cards/minimal.card.yaml"))
    assert "was revoked" in assert_clean_failure(invoke_cli(*register, user="alice", db=url))[0]
    acted = invoke_cli(*register, db=url, env={"GOVERN_USER": "alice",
                                                "GOVERN_KEY_DIR": str(new)})  # fmt: skip
    assert acted.returncode == 0, acted.stderr
    revoked = invoke_cli("keys", "revoke", rotated["fingerprint"][:20], "--reason", "lost",
                         db=url)  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    assert invoke_cli("audit", "verify", db=url).returncode == 0


def test_one_key_belongs_to_one_person(sqlite_cat):
    result = invoke_cli("users", "add", "zoe", "--role", "viewer", "--key",
                        str(public_key("alice")), db=sqlite_cat.url)  # fmt: skip
    lines = assert_clean_failure(result)
    assert "already enrolled" in lines[0]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "is empty"),
        (b"not a key", "not a PEM public key"),
        (bytes(range(256)), "not a PEM public key"),
        (b"x" * 70_000, "too large"),
    ],
    ids=["empty", "text", "binary", "huge"],
)
def test_bad_public_key_files_are_refused(sqlite_cat, tmp_path, content, fragment):
    path = tmp_path / "their.pub.pem"
    path.write_bytes(content)
    result = invoke_cli("keys", "enrol", "alice", str(path), db=sqlite_cat.url)
    lines = assert_clean_failure(result)
    assert len(lines) == 1 and fragment in lines[0], lines


# --- the organisation's card-signing key ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "algorithm", "key_type"),
    [
        ((), "ECDSA secp256r1", ec.EllipticCurvePublicKey),
        (("--algorithm", "rsa-3072"), "RSA-3072", rsa.RSAPublicKey),
    ],
)
def test_org_init_creates_the_card_key_and_records_its_certificate(
    sqlite_cat, tmp_path, args, algorithm, key_type
):
    org = tmp_path / "org"
    env = {"GOVERN_ORG_KEY_DIR": str(org)}
    info = keys_json("org", "init", *args, "--common-name", "Model Risk", "--organization",
                     "ACME", env=env, db=sqlite_cat.url)  # fmt: skip
    assert info["algorithm"] == algorithm and info["status"] == "active"
    assert stat.S_IMODE((org / "signing-key.pem").stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((org / "signing-cert.pem").read_bytes())
    assert isinstance(cert.public_key(), key_type)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Model Risk"
    assert info["fingerprint"] == cert.fingerprint(hashes.SHA256()).hex()
    identity = signing.load_identity(org)
    assert signing.verify_bytes(cert, b"hello", signing.sign_bytes(identity, b"hello"))
    log = json.loads(invoke_cli("audit", "log", "--json", db=sqlite_cat.url).stdout)
    assert log[0]["action"] == "org_key.add" and log[0]["signed"] is True


def test_org_key_is_an_admins_action_and_is_never_replaced_quietly(sqlite_cat, tmp_path):
    url = sqlite_cat.url
    org = tmp_path / "org"
    env = {"GOVERN_ORG_KEY_DIR": str(org)}
    refused = invoke_cli("keys", "org", "init", env=env, db=url, user="carol")
    assert "carol is an approver and cannot" in assert_clean_failure(refused)[0]
    assert not org.exists()
    first = keys_json("org", "init", env=env, db=url)
    again = assert_clean_failure(invoke_cli("keys", "org", "init", env=env, db=url))
    assert "already signs cards" in again[0] and "rotate" in again[0]
    # A key someone put in the directory by hand is not adopted without --existing.
    second_url = f"sqlite:///{tmp_path / 'second.db'}"
    from tests.conftest import make_catalogue

    make_catalogue(second_url).close()
    exists = assert_clean_failure(invoke_cli("keys", "org", "init", env=env, db=second_url))
    assert "already exists" in exists[0] and "--existing" in exists[0]
    adopted = keys_json("org", "init", "--existing", env=env, db=second_url)
    assert adopted["fingerprint"] == first["fingerprint"]


def test_rotation_keeps_the_old_certificate_and_revocation_marks_it(sqlite_cat, tmp_path):
    url = sqlite_cat.url
    org = tmp_path / "org"
    env = {"GOVERN_ORG_KEY_DIR": str(org)}
    first = keys_json("org", "init", env=env, db=url)
    rotated = run_cli("keys", "org", "rotate", env=env, db=url)
    assert rotated.returncode == 0, rotated.stderr
    archived = org / "retired" / first["fingerprint"][:16] / "signing-key.pem"
    assert archived.is_file()  # never deleted
    shown = keys_json("org", "show", env=env, db=url)
    status = {c["fingerprint"]: c["status"] for c in shown["certificates"]}
    assert status[first["fingerprint"]] == "retired" and list(status.values()).count("active") == 1
    export = tmp_path / "org-cards.pem"
    assert invoke_cli("keys", "org", "export", "-o", str(export), db=url).returncode == 0
    assert len(x509.load_pem_x509_certificates(export.read_bytes())) == 2
    again = assert_clean_failure(invoke_cli("keys", "org", "export", "-o", str(export), db=url))
    assert "already exists" in again[0]
    revoked = invoke_cli("keys", "org", "revoke", first["fingerprint"][:12], "--reason",
                         "laptop stolen", db=url)  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    shown = keys_json("org", "show", env=env, db=url)
    status = {c["fingerprint"]: c["status"] for c in shown["certificates"]}
    assert status[first["fingerprint"]] == "revoked"
    assert invoke_cli("audit", "verify", db=url).returncode == 0


def test_org_key_from_the_organisations_ca(sqlite_cat, tmp_path):
    bundle = tmp_path / "org.p12"
    cert = _bundle(bundle, b"s3cret")
    org = tmp_path / "org"
    env = {"GOVERN_ORG_KEY_DIR": str(org), "GOVERN_P12_PASSWORD": "s3cret"}
    info = keys_json("org", "init", "--import", str(bundle), env=env, db=sqlite_cat.url)
    assert info["subject"] == "CN=Model Cards ACME"
    assert info["fingerprint"] == cert.fingerprint(hashes.SHA256()).hex()
    identity = signing.load_identity(org)
    assert [c.subject.rfc4514_string() for c in identity.chain] == ["CN=ACME Test CA"]
    unusable = tmp_path / "usage.p12"
    _bundle(unusable, b"s3cret", usage_ok=False)
    lines = assert_clean_failure(
        invoke_cli("keys", "org", "rotate", "--import", str(unusable), env=env, db=sqlite_cat.url)
    )
    assert "does not allow digital signatures" in lines[0]
    assert signing.load_identity(org).fingerprint == info["fingerprint"]  # restored


def test_an_unknown_org_key_algorithm_is_refused_before_anything_moves(sqlite_cat, tmp_path):
    org = tmp_path / "org"
    env = {"GOVERN_ORG_KEY_DIR": str(org)}
    keys_json("org", "init", env=env, db=sqlite_cat.url)
    before = (org / "signing-key.pem").read_bytes()
    for command in ("init", "rotate"):
        result = invoke_cli("keys", "org", command, "--algorithm", "dsa-1024", env=env,
                            db=sqlite_cat.url)  # fmt: skip
        lines = assert_clean_failure(result)
        assert len(lines) == 1 and "unknown --algorithm 'dsa-1024'" in lines[0]
    assert (org / "signing-key.pem").read_bytes() == before and not (org / "retired").exists()
