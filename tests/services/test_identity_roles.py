"""Who is acting, what they may do, and how versions are named and ordered (both backends).

Who acts (--user, GOVERN_USER, the OS login), an unknown user, an empty --user and init run
`govern` as a real process; reading the log and the other refusals and listings run it in
process (``invoke_cli``: the same ``run`` that ``python -m govern`` exits with).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from govern.domain.refs import ModelRef, semver_key
from govern.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from govern.services import Context, catalogue, users
from govern.services import audit as audit_service
from tests.conftest import CAST, invoke_cli, key_dir, run_cli
from tests.helpers import CARDS, assert_clean_failure, snapshot


def card_with_version(tmp_path: Path, version: str, name: str = "tiny") -> Path:
    path = tmp_path / f"{name}-{version}.card.yaml"
    text = (CARDS / "minimal.card.yaml").read_text(encoding="utf-8")
    path.write_text(
        text.replace("version: 1.0.0", f"version: {version}").replace(
            "name: tiny", f"name: {name}"
        ),
        encoding="utf-8",
    )
    return path


def last_event(url: str) -> dict:
    result = invoke_cli("audit", "log", "--limit", "1", "--json", db=url, user="admin")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]


def without_identity(**extra: str) -> dict[str, str]:
    """The environment minus GOVERN_USER (and the key that goes with it), with the OS login
    names set to ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in {"GOVERN_USER", "GOVERN_KEY_DIR"}}
    env.update(extra)
    return env


def run_as_os_user(args: list[str], url: str, login: str):
    import subprocess
    import sys

    env = without_identity(LOGNAME=login, USER=login, LNAME=login, USERNAME=login)
    env["GOVERN_DATABASE_URL"] = url
    env["GOVERN_KEY_DIR"] = str(key_dir(login))  # the person at their own machine
    return subprocess.run(
        [sys.executable, "-m", "govern", *args], env=env, capture_output=True, text=True
    )


# --- identity ------------------------------------------------------------------------------


def test_user_option_beats_environment_beats_os_login(cat, tmp_path):
    url = cat.url
    # --user beats GOVERN_USER (victor, a viewer, could not register); alice acts with her key.
    result = run_cli(
        "--user",
        "alice",
        "register",
        str(card_with_version(tmp_path, "1.0.0")),
        db=url,
        user="victor",
        env={"GOVERN_KEY_DIR": str(key_dir("alice"))},
    )
    assert result.returncode == 0, result.stderr
    assert last_event(url)["actor"] == "alice"
    # Naming her is not enough: with victor's key, "alice" is refused.
    impersonated = run_cli(
        "--user", "alice", "register", str(card_with_version(tmp_path, "0.9.0")), db=url,
        user="victor",
    )  # fmt: skip
    assert "is enrolled to victor, not to alice" in assert_clean_failure(impersonated)[0]

    # GOVERN_USER beats the OS login.
    env = without_identity(LOGNAME="victor", USER="victor")
    result = run_cli(
        "register", str(card_with_version(tmp_path, "1.1.0")), db=url, env=env, user="alice"
    )
    assert result.returncode == 0, result.stderr
    assert last_event(url)["actor"] == "alice"

    # With neither, the OS login name acts.
    result = run_as_os_user(["register", str(card_with_version(tmp_path, "1.2.0"))], url, "alice")
    assert result.returncode == 0, result.stderr
    assert last_event(url)["actor"] == "alice"
    refused = run_as_os_user(["register", str(card_with_version(tmp_path, "1.3.0"))], url, "victor")
    assert_clean_failure(refused)
    assert last_event(url)["actor"] == "victor"


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_user_option_is_refused_not_the_os_login(cat, tmp_path, name):
    before = snapshot(cat.url)
    result = run_cli(
        "--user", name, "register", str(card_with_version(tmp_path, "1.0.0")), db=cat.url
    )  # fmt: skip
    assert result.returncode == 2
    assert "--user: a user name cannot be empty" in result.stderr
    assert snapshot(cat.url) == before


def test_unknown_user_is_refused_and_the_refusal_is_audited(cat):
    before = snapshot(cat.url)
    result = run_cli("register", str(CARDS / "minimal.card.yaml"), db=cat.url, user="mallory")
    lines = assert_clean_failure(result)
    assert lines == [
        "error: mallory is not a user of this catalogue and cannot register tiny@1.0.0; an "
        "admin can add them with `govern users add mallory --role ROLE --key THEIR.pub.pem`"
    ]
    event = last_event(cat.url)
    assert (event["actor"], event["action"], event["subject"]) == (
        "mallory",
        "version.register.refused",
        "tiny@1.0.0",
    )
    assert "not a user" in event["payload"]["reason"]
    after = snapshot(cat.url)
    assert after.versions == before.versions and after.events == before.events + 1


@pytest.mark.parametrize(
    ("user", "args", "action"),
    [
        ("victor", ["register", str(CARDS / "minimal.card.yaml")], "version.register.refused"),
        ("bob", ["users", "add", "zoe", "--role", "admin"], "user.add.refused"),
        ("alice", ["users", "set-role", "bob", "--role", "admin"], "user.set_role.refused"),
    ],
)
def test_wrong_role_is_refused_and_audited(cat, user, args, action):
    lines = assert_clean_failure(invoke_cli(*args, db=cat.url, user=user))
    assert len(lines) == 1 and f"{user} is a {CAST[user]} and cannot" in lines[0]
    event = last_event(cat.url)
    assert (event["actor"], event["action"]) == (user, action)


def test_register_needs_developer_or_admin(cat, tmp_path):
    for index, (name, role) in enumerate(sorted({**CAST, "admin": "admin"}.items())):
        card = card_with_version(tmp_path, f"1.{index}.0")
        if role in {"developer", "admin"}:
            assert catalogue.register_version(cat.ctx(name), card).created_by == name
        else:
            with pytest.raises(PermissionDenied, match="needs the role admin or developer"):
                catalogue.register_version(cat.ctx(name), card)
    assert {v.created_by for v in catalogue.list_versions(cat.ctx())} == {"alice", "admin"}


def test_init_bootstraps_the_first_admin_only(database_url):
    first = run_cli("init", db=database_url, user="boss")
    assert first.returncode == 0, first.stderr
    assert "boss is its admin" in first.stdout
    again = run_cli("init", db=database_url, user="intruder")
    assert again.returncode == 0 and "admin" not in again.stdout
    listed = json.loads(run_cli("users", "list", "--json", db=database_url, user="boss").stdout)
    assert [(u["name"], u["role"]) for u in listed] == [("boss", "admin")]
    refused = run_cli(
        "users", "add", "intruder", "--role", "admin", db=database_url, user="intruder"
    )
    assert_clean_failure(refused)
    added = run_cli("users", "add", "alice", "--role", "developer", db=database_url, user="boss")
    assert added.returncode == 0 and "Added alice as developer" in added.stdout


def test_users_input_is_checked(cat):
    admin = cat.ctx("admin")
    with pytest.raises(InputError, match="unknown role 'overlord'"):
        users.add_user(admin, "zoe", role="overlord")
    with pytest.raises(InputError, match="must start and end with a letter or a digit"):
        users.add_user(admin, "../etc/passwd", role="viewer")
    with pytest.raises(ConflictError, match="already exists"):
        users.add_user(admin, "alice", role="viewer")
    with pytest.raises(NotFoundError):
        users.set_role(admin, "nobody", role="viewer")
    with pytest.raises(InputError, match="last admin"):
        users.set_role(admin, "admin", role="viewer")
    assert users.set_role(admin, "bob", role="approver").role == "approver"


def test_same_name_and_version_twice_is_refused(cat):
    url = cat.url
    card = str(CARDS / "minimal.card.yaml")
    assert invoke_cli("register", card, db=url, user="alice").returncode == 0
    before = snapshot(url)
    lines = assert_clean_failure(invoke_cli("register", card, db=url, user="alice"))
    assert len(lines) == 1 and "tiny@1.0.0 is already registered" in lines[0]
    assert snapshot(url) == before


# --- versions --------------------------------------------------------------------------------


def test_semver_precedence_follows_semver_org():
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.9.0",
        "1.10.0",
        "2.0.0",
    ]
    shuffled = ordered[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=semver_key) == ordered
    assert semver_key("1.0.0+build.5") == semver_key("1.0.0")


@pytest.mark.parametrize(
    "text", ["Tiny", "tiny@1.0", "tiny@v1.0.0", "tiny@01.0.0", "", "a b", "tiny@1.0.0@2"]
)
def test_bad_references_are_refused(text):
    with pytest.raises(InputError):
        ModelRef.parse(text)


def test_latest_version_uses_semver_order(cat, tmp_path):
    alice = cat.ctx("alice")
    for version in ["1.9.0", "1.10.0-rc.1", "1.10.0", "1.2.0"]:
        catalogue.register_version(alice, card_with_version(tmp_path, version))
    assert catalogue.show_version(cat.ctx("victor"), "tiny").version == "1.10.0"
    listed = [r.version for r in catalogue.list_versions(cat.ctx("victor"))]
    assert listed == ["1.10.0", "1.10.0-rc.1", "1.9.0", "1.2.0"]
    shown = invoke_cli("show", "tiny", "--json", db=cat.url, user="victor")
    detail = json.loads(shown.stdout)
    assert detail["version"] == "1.10.0"
    assert detail["other_versions"] == ["1.10.0-rc.1", "1.9.0", "1.2.0"]


def test_list_and_show_plain_and_json(cat, tmp_path):
    alice = cat.ctx("alice")
    catalogue.register_version(alice, card_with_version(tmp_path, "1.0.0", name="zeta"))
    catalogue.register_version(alice, card_with_version(tmp_path, "2.0.0", name="alpha"))
    catalogue.register_version(alice, CARDS / "minimal.card.yaml")

    plain = invoke_cli("list", db=cat.url, user="victor")
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0].split()[:4] == ["MODEL", "VERSION", "STATE", "TIER"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["alpha", "2.0.0", "draft"],
        ["tiny", "1.0.0", "draft"],
        ["zeta", "1.0.0", "draft"],
    ]
    as_json = json.loads(invoke_cli("list", "--json", db=cat.url, user="victor").stdout)
    assert [(r["name"], r["version"], r["risk_tier"]) for r in as_json] == [
        ("alpha", "2.0.0", "low"),
        ("tiny", "1.0.0", "low"),
        ("zeta", "1.0.0", "low"),
    ]
    only = json.loads(invoke_cli("list", "zeta", "--json", db=cat.url, user="victor").stdout)
    assert [r["name"] for r in only] == ["zeta"]

    shown = invoke_cli("show", "alpha@2.0.0", db=cat.url, user="victor")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("alpha@2.0.0  [draft]")
    assert "owner:" in shown.stdout and "alice" in shown.stdout
    assert "missing factors" in shown.stdout
    detail = json.loads(invoke_cli("show", "alpha@2.0.0", "--json", db=cat.url).stdout)
    assert detail["name"] == "alpha" and detail["card"]["model_details"]["version"] == "2.0.0"

    missing = assert_clean_failure(invoke_cli("show", "alpha@9.9.9", db=cat.url))
    assert missing == ["error: no version alpha@9.9.9 in the catalogue (known: 2.0.0)"]
    unknown = assert_clean_failure(invoke_cli("show", "omega", db=cat.url))
    assert unknown == ["error: no model named 'omega' in the catalogue"]
    bad = assert_clean_failure(invoke_cli("show", "Not A Ref", db=cat.url))
    assert len(bad) == 1 and "not a model reference" in bad[0]


def test_python_api_matches_the_cli(cat):
    ctx = Context.open(database_url=cat.url, user="alice", key_dir=key_dir("alice"))
    try:
        detail = catalogue.register_version(ctx, CARDS / "minimal.card.yaml")
        events = audit_service.audit_log(ctx, subject="tiny", limit=5)
    finally:
        ctx.close()
    assert detail.ref == "tiny@1.0.0"
    assert [e.action for e in events] == ["version.register"]


@pytest.mark.parametrize("name", ["a" * 101, "line\nbreak", "tab\there"])
def test_impossible_user_names_are_refused_before_anything_is_written(cat, name):
    """An over-long --user once reached PostgreSQL's 100-character column: an internal error."""
    before = snapshot(cat.url)
    result = invoke_cli("--user", name, "register", str(CARDS / "minimal.card.yaml"), db=cat.url)
    lines = assert_clean_failure(result)
    assert len(lines) == 1 and "setting user" in lines[0] and "100 printable" in lines[0]
    assert snapshot(cat.url) == before


def test_over_long_version_is_a_card_error(cat, tmp_path):
    before = snapshot(cat.url)
    card = card_with_version(tmp_path, "1.0.0-" + "a" * 130)
    lines = assert_clean_failure(invoke_cli("register", str(card), db=cat.url, user="alice"))
    assert len(lines) == 1 and f"{card}:5:" in lines[0] and "model_details.version" in lines[0]
    assert "at most 100 characters" in lines[0]
    assert snapshot(cat.url) == before


def test_over_long_display_name_is_an_input_error(cat):
    before = snapshot(cat.url)
    result = invoke_cli(
        "users", "add", "zoe", "--role", "viewer", "--display-name", "x" * 201, db=cat.url
    )
    lines = assert_clean_failure(result)
    assert lines == ["error: a display name is at most 200 characters long"]
    assert snapshot(cat.url) == before
