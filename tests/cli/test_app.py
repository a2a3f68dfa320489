"""The command line as a user and a CI job meet it: exit codes, JSON on stdout, help text,
documentation of every command, and a light start.

Real subprocesses throughout, except where one command is asked many questions of the same
catalogue (the audit log's filters) or the same JSON walk is repeated on PostgreSQL: those run
in process (``invoke_cli``: the same ``run`` that ``python -m govern`` exits with).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from govern import __version__
from govern.cli.app import app
from govern.services import catalogue
from tests.conftest import REPO, invoke_cli, key_dir, public_key, run_cli
from tests.helpers import CARDS, assert_clean_failure, sqlite_file

HEAVY = (
    "shap",
    "fairlearn",
    "sklearn",
    "weasyprint",
    "pyhanko",
    "pandas",
    "matplotlib",
    "textual",
    "skops",
    "onnxruntime",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
)


def command_paths() -> list[tuple[tuple[str, ...], Any]]:
    """Every command and subcommand of ``govern``, as (path, click command).

    Typer vendors its own click, so groups are recognised by their ``commands``.
    """
    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if path:
            found.append((path, command))
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in sorted(subcommands.items()):
                if not sub.hidden:
                    walk(sub, (*path, name))

    walk(get_command(app), ())
    return found


# --- exit codes ------------------------------------------------------------------------------


def test_exit_0_1_2_3(sqlite_cat):
    url = sqlite_cat.url
    catalogue.register_version(sqlite_cat.ctx("alice"), CARDS / "minimal.card.yaml")
    assert run_cli("list", db=url).returncode == 0
    assert_clean_failure(run_cli("show", "nosuchmodel", db=url), code=2)

    conn = sqlite3.connect(sqlite_file(url))
    conn.execute("DROP TRIGGER audit_event_no_update")
    conn.execute("UPDATE audit_event SET actor = 'mallory' WHERE seq = 3")
    # A card column that is not JSON: nothing govern writes, so nothing it anticipates.
    conn.execute("UPDATE model_version SET card = 'not json'")
    conn.commit()
    conn.close()
    assert_clean_failure(run_cli("audit", "verify", db=url), code=1)

    crashed = run_cli("show", "tiny", db=url)
    lines = assert_clean_failure(crashed, code=3)
    assert lines[0].startswith("internal error: JSONDecodeError")
    assert "please report it" in crashed.stderr and "--debug" in crashed.stderr
    assert crashed.stdout == ""

    debugged = run_cli("--debug", "show", "tiny", db=url)
    assert debugged.returncode == 3
    assert "Traceback (most recent call last)" in debugged.stderr
    assert "internal error: JSONDecodeError" in debugged.stderr
    via_env = run_cli("show", "tiny", db=url, env={"GOVERN_DEBUG": "1"})
    assert via_env.returncode == 3 and "Traceback" in via_env.stderr


def test_usage_errors_exit_2_without_traceback():
    cases = (("--no-such-option",), ("register",), ("no-such-command",), ("users", "add"))
    for i, args in enumerate(cases):
        result = (run_cli if i == 0 else invoke_cli)(*args)  # one real process is enough
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert "Error" in result.stderr or "error" in result.stderr


def test_bad_configuration_exits_2(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text("database_url = [unterminated\n")
    lines = assert_clean_failure(run_cli("list", env={"GOVERN_CONFIG_FILE": str(bad)}))
    assert len(lines) == 1 and "not valid TOML" in lines[0]
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('colour = "blue"\n')
    lines = assert_clean_failure(invoke_cli("list", env={"GOVERN_CONFIG_FILE": str(unknown)}))
    assert len(lines) == 1 and "colour" in lines[0]
    missing = tmp_path / "missing.toml"
    lines = assert_clean_failure(invoke_cli("list", env={"GOVERN_CONFIG_FILE": str(missing)}))
    assert len(lines) == 1 and "config file not found" in lines[0]


@pytest.mark.parametrize(
    ("source", "value", "fragment"),
    [
        ("toml", "9" * 5000, "not valid TOML: a number has too many digits"),
        ("toml", "nan", "setting max_card_bytes: Input should be a finite number"),
        ("env", "9" * 30, "setting max_card_bytes: Input should be less than or equal to"),
        ("env", "-5", "setting max_card_bytes: Input should be greater than or equal to 1"),
    ],
)
def test_hostile_numbers_in_personal_limits_exit_2(source, value, fragment, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f"max_card_bytes = {value}\n" if source == "toml" else "")
    env = {"GOVERN_CONFIG_FILE": str(config)}
    if source == "env":
        env["GOVERN_MAX_CARD_BYTES"] = value
    lines = assert_clean_failure(run_cli("list", env=env))
    assert len(lines) == 1 and fragment in lines[0], lines


def test_config_file_sets_the_catalogue(tmp_path):
    config = tmp_path / "config.toml"
    db = tmp_path / "from-config.db"
    config.write_text(f'database_url = "sqlite:///{db}"\n')
    result = run_cli("init", env={"GOVERN_CONFIG_FILE": str(config)})
    assert result.returncode == 0, result.stderr
    assert db.exists()


# --- entry points --------------------------------------------------------------------------


def test_python_dash_m_and_console_script():
    module = run_cli("--version")
    assert module.returncode == 0 and module.stdout.strip() == f"govern {__version__}"
    script = Path(sys.executable).parent / "govern"
    assert script.exists()
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"govern {__version__}"


def test_no_arguments_without_a_terminal_prints_help():
    result = run_cli()
    assert result.returncode == 0
    assert "Usage: govern" in result.stdout and "Commands" in result.stdout


def test_empty_catalogue_message_goes_to_stderr(sqlite_cat):
    result = run_cli("list", db=sqlite_cat.url)
    assert result.returncode == 0
    assert result.stdout == ""
    assert "catalogue is empty" in result.stderr
    as_json = run_cli("list", "--json", db=sqlite_cat.url)
    assert json.loads(as_json.stdout) == []


# --- JSON output -----------------------------------------------------------------------------


def test_json_outputs_parse(database_url, tmp_path):
    # Real processes on SQLite; the same walk on PostgreSQL checks its storage, in process.
    run = run_cli if database_url.startswith("sqlite") else invoke_cli

    def run_json(*args: str, user: str = "admin"):
        result = run(*args, "--json", db=database_url, user=user)
        assert result.returncode == 0, (args, result.stderr)
        return json.loads(result.stdout)

    created = run_json("init")
    assert created["created"] is True and created["admin"] == "admin"
    added = run("users", "add", "alice", "--role", "developer", "--key",
                str(public_key("alice")), db=database_url)  # fmt: skip
    assert added.returncode == 0, added.stderr
    registered = run_json("register", str(CARDS / "minimal.card.yaml"), user="alice")
    assert registered["name"] == "tiny" and registered["state"] == "draft"
    assert len(registered["card_sha256"]) == 64

    listed = run_json("list")
    assert [(r["name"], r["version"]) for r in listed] == [("tiny", "1.0.0")]
    shown = run_json("show", "tiny")
    assert shown["card"]["governance"]["owner"] == "alice"
    assert shown["card_sha256"] == registered["card_sha256"]
    people = run_json("users", "list")
    assert {(u["name"], u["role"]) for u in people} == {("admin", "admin"), ("alice", "developer")}
    events = run_json("audit", "log")
    assert [e["action"] for e in events] == ["version.register", "user.add", "catalogue.init"]
    assert all(e["signed"] for e in events)
    verdict = run_json("audit", "verify")
    assert verdict["ok"] is True and verdict["events"] == 3 and verdict["signed_events"] == 3
    enrolled = run_json("keys", "list")
    assert {k["user"] for k in enrolled} == {"admin", "alice"}
    assert run_json("keys", "show")["fingerprint"] in {k["fingerprint"] for k in enrolled}
    settings = run_json("settings", "show")
    assert settings["revision"] == 1 and settings["document"]["approvals_by_tier"]["high"] == 2
    assert [r["revision"] for r in run_json("settings", "history")] == [1]


# --- help and documentation ------------------------------------------------------------------


def test_every_command_has_help():
    missing = [
        " ".join(path)
        for path, command in command_paths()
        if not (command.help or command.short_help or "").strip()
    ]
    assert missing == [], f"commands without help text: {missing}"


def test_every_command_is_documented():
    """Every command and subcommand appears as `govern ...` in README.md or docs/*.md."""
    sources = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    text = "\n".join(path.read_text(encoding="utf-8") for path in sources if path.exists())
    undocumented = [
        "govern " + " ".join(path)
        for path, _command in command_paths()
        if f"govern {' '.join(path)}" not in text
    ]
    assert undocumented == [], f"not mentioned in README.md or docs/*.md: {undocumented}"


def test_every_help_page_renders_without_loading_heavy_modules():
    paths = [list(path) for path, _ in command_paths()]
    assert len(paths) > 10
    script = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        from govern.cli.app import run
        codes = {{}}
        for path in [[]] + {paths!r}:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                codes[" ".join(path)] = (run([*path, "--help"]), len(out.getvalue()))
        heavy = sorted(
            name for name in sys.modules if name.split(".")[0] in {list(HEAVY)!r}
        )
        sys.stderr.write(json.dumps({{"codes": codes, "heavy": heavy}}))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stderr)
    assert report["heavy"] == []
    assert all(code == 0 and size > 0 for code, size in report["codes"].values()), report


def _modules_after(statement: str) -> set[str]:
    script = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return {name.split(".")[0] for name in result.stdout.split()}


def test_import_govern_cli_is_light():
    loaded = _modules_after("import govern.cli, govern.cli.app")
    assert loaded & set(HEAVY) == set()
    assert _modules_after("import govern") & set(HEAVY) == set()


def test_govern_help_as_a_process_is_light():
    script = (
        "import sys, runpy\n"
        "sys.argv = ['govern', '--help']\n"
        "try:\n"
        "    runpy.run_module('govern', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "sys.stderr.write(' '.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Usage: govern" in result.stdout
    loaded = {name.split(".")[0] for name in result.stderr.split()}
    assert loaded & set(HEAVY) == set()


def test_services_never_load_textual():
    import pkgutil

    import govern.services

    names = [f"govern.services.{m.name}" for m in pkgutil.iter_modules(govern.services.__path__)]
    assert "govern.services.catalogue" in names
    loaded = _modules_after("import govern.services")
    assert "textual" not in loaded
    loaded_all = _modules_after("\n".join(f"import {name}" for name in names))
    assert "textual" not in loaded_all


@pytest.mark.parametrize("args", [("users",), ("audit",), ("keys",), ("db",)])
def test_groups_without_a_subcommand_show_their_help(args):
    result = run_cli(*args)
    assert "Usage: govern" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_audit_log_filters_and_pages(cat):
    catalogue.register_version(cat.ctx("alice"), CARDS / "minimal.card.yaml")

    def events(*args: str) -> list[dict]:
        result = invoke_cli("audit", "log", *args, "--json", db=cat.url)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    everything = events("--limit", "1000")
    assert [e["seq"] for e in everything] == list(range(len(everything), 0, -1))
    assert [e["action"] for e in events("--actor", "alice")] == ["version.register"]
    assert [e["subject"] for e in events("--subject", "tiny")] == ["tiny@1.0.0"]
    assert {e["action"] for e in events("--action", "user")} == {"user.add"}
    assert [e["seq"] for e in events("--before", "4", "--limit", "2")] == [3, 2]
    plain = run_cli("audit", "log", "--limit", "1", db=cat.url)
    assert plain.stdout.splitlines()[1].split()[0] == str(len(everything))
    for bad in (("--before", "99999999999999999999"), ("--limit", "0"), ("--before", "-1")):
        result = run_cli("audit", "log", *bad, db=cat.url)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (bad, result.stderr)


def test_db_option_beats_environment_beats_default(tmp_path):
    """--db, then GOVERN_DATABASE_URL, then ./govern.db in the working directory."""
    env_db, option_db = tmp_path / "env.db", tmp_path / "option.db"
    env = {"GOVERN_DATABASE_URL": f"sqlite:///{env_db}"}
    made = run_cli("--db", str(option_db), "init", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    assert option_db.exists() and not env_db.exists()
    made = run_cli("init", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    assert env_db.exists() and not (tmp_path / "govern.db").exists()
    made = run_cli("init", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "sqlite:///govern.db" in made.stdout and (tmp_path / "govern.db").exists()


def test_empty_catalogue_url_is_a_usage_error(tmp_path):
    for args, env in ((("--db", "", "init"), None), (("init",), {"GOVERN_DATABASE_URL": " "})):
        lines = assert_clean_failure(run_cli(*args, cwd=tmp_path, env=env))
        assert len(lines) == 1 and "catalogue URL is empty" in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_python_api_works_where_textual_cannot_be_imported(tmp_path):
    """The README's Python API, in a process where textual, typer and rich do not exist."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path

        class NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {{"textual", "typer", "rich"}}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}")

        sys.meta_path.insert(0, NotInstalled())
        from govern.services import Context, catalogue, users

        url = "sqlite:///{tmp_path / "api.db"}"
        ctx = Context.open(database_url=url, user="admin", key_dir={str(key_dir("admin"))!r})
        catalogue.init_catalogue(ctx)
        users.add_user(ctx, "alice", role="developer", key=Path({str(public_key("alice"))!r}))
        alice = Context.open(database_url=url, user="alice", key_dir={str(key_dir("alice"))!r})
        catalogue.register_version(alice, Path({str(CARDS / "minimal.card.yaml")!r}))
        print([(row.ref, row.state) for row in catalogue.list_versions(alice)])
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('tiny@1.0.0', 'draft')]"
