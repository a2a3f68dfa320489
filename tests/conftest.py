"""Shared fixtures: real catalogues on SQLite files and on a real PostgreSQL server.

PostgreSQL comes from ``GOVERN_TEST_POSTGRES_URL`` (``scripts/run-tests`` starts a throwaway
server). Each test that asks for it gets a database of its own, dropped afterwards.

The catalogue fixtures (``cat``, ``sqlite_cat``) start from the current schema, migrated once
per test process and copied (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on
PostgreSQL); ``govern init`` then gives each copy its own id, first admin and audit chain.
``database_url`` and ``postgres_url`` stay empty, for the tests of migrations and of init.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from govern.services import Context, catalogue, users

# CI runs the property tests on a fixed sequence of examples (.ci/run sets the profile), so a
# run there is reproducible; elsewhere every run draws new ones and can find new failures.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("GOVERN_HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
DATA = Path(__file__).resolve().parent / "data"
POSTGRES_URL = os.environ.get("GOVERN_TEST_POSTGRES_URL", "")

#: The demo cast: one user per role, used across service, CLI and TUI tests.
CAST = {
    "alice": "developer",
    "bob": "validator",
    "carol": "approver",
    "dave": "compliance",
    "erin": "approver",
    "victor": "viewer",
}


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test sees the developer's GOVERN_* settings or home directory.

    Each person a test names gets a personal key of their own, without a passphrase, in
    ``<tmp>-people/NAME/identity`` (:func:`key_dir`): the catalogue fixtures enrol them, and
    :func:`run_cli` / :func:`invoke_cli` act with the key of the user they are given.
    """
    for name in list(os.environ):
        if name.startswith("GOVERN_") and not name.startswith("GOVERN_TEST_"):
            monkeypatch.delenv(name)
    home = tmp_path / "govern-home"
    monkeypatch.setenv("GOVERN_HOME", str(home))
    monkeypatch.setenv("GOVERN_USER", "admin")
    # Beside tmp_path, not in it: tests assert that a refused command left tmp_path empty.
    global _PEOPLE
    _PEOPLE = tmp_path.parent / f"{tmp_path.name}-people"
    monkeypatch.setenv("GOVERN_TEST_PEOPLE", str(_PEOPLE))
    # The default actor acts with their own key, as a person at their own machine would.
    monkeypatch.setenv("GOVERN_KEY_DIR", str(key_dir("admin")))
    return home


#: Where this test's people keep their keys (also in GOVERN_TEST_PEOPLE for subprocesses;
#: kept here too, as a test may undo its monkeypatched environment).
_PEOPLE: Path | None = None


def key_dir(user: str) -> Path:
    """``user``'s personal key directory in this test, created with a key on first use."""
    from govern import personal_keys

    assert _PEOPLE is not None
    directory = _PEOPLE / user / "identity"
    if not personal_keys.exists(directory):
        personal_keys.create(directory, passphrase=None)
    return directory


def public_key(user: str) -> Path:
    """``user``'s public key file (what an admin enrols)."""
    return key_dir(user) / "identity.pub.pem"


def person_env(user: str) -> dict[str, str]:
    """The environment a subprocess needs to act as ``user`` with ``user``'s own key."""
    return {"GOVERN_USER": user, "GOVERN_KEY_DIR": str(key_dir(user))}


#: Every storage test runs on both backends.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _postgres_admin_url() -> str:
    if not POSTGRES_URL:
        pytest.fail(
            "GOVERN_TEST_POSTGRES_URL is not set: run the suite with `make test` "
            "(scripts/run-tests starts PostgreSQL)"
        )
    return POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")


def _postgres_url(name: str) -> str:
    return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"


@contextmanager
def postgres_database(template: str | None = None) -> Iterator[str]:
    """A new database of its own (a copy of ``template`` if given), dropped afterwards."""
    import psycopg

    admin = _postgres_admin_url()
    name = f"govern_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield _postgres_url(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty catalogue location on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'govern.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'govern.db'}"


@dataclass
class Catalogue:
    """An initialised catalogue with the demo cast as users, each with an enrolled key."""

    url: str
    contexts: dict[str, Context] = field(default_factory=dict)
    #: Personal settings every context of this catalogue gets, e.g. ``{"template_dir": ...}``.
    overrides: dict[str, Any] = field(default_factory=dict)

    def ctx(self, user: str = "admin") -> Context:
        if user not in self.contexts:
            self.contexts[user] = Context.open(
                database_url=self.url, user=user, key_dir=key_dir(user), **self.overrides
            )
        return self.contexts[user]

    def configure(self, **changes: Any) -> None:
        """Change settings from now on: governance settings by an admin's ``settings apply``
        (a partial table changes only what it names), personal ones for every context."""
        from govern.config import GOVERNANCE_KEYS
        from govern.domain.governance import GovernanceSettings
        from govern.services import governance

        rules = {k: v for k, v in changes.items() if k in GOVERNANCE_KEYS}
        if rules:
            admin = self.ctx("admin")
            document = {**admin.governance.document(), **rules}
            governance.apply(
                admin, GovernanceSettings.model_validate(document), source="test settings"
            )
        personal = {k: v for k, v in changes.items() if k not in GOVERNANCE_KEYS}
        if personal:
            self.close()
            self.contexts.clear()
            self.overrides.update(personal)

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


def make_catalogue(url: str) -> Catalogue:
    cat = Catalogue(url)
    catalogue.init_catalogue(cat.ctx("admin"))
    for name, role in CAST.items():
        users.add_user(cat.ctx("admin"), name, role=role, key=public_key(name))
    return cat


class SchemaTemplates:
    """The current schema with nothing in it, migrated once per test process.

    Alembic's migrations cost about 0.3 s on SQLite and 0.5 s on PostgreSQL, paid by every
    catalogue fixture before; copying the migrated result costs a few milliseconds.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sqlite: Path | None = None
        self._postgres: str | None = None

    def copy_sqlite(self, target: Path) -> None:
        if self._sqlite is None:
            self._sqlite = self.directory / "schema.db"
            self._migrate(f"sqlite:///{self._sqlite}")
            # The last connection has closed, so the whole schema is in the one file.
            assert [p.name for p in self.directory.iterdir()] == ["schema.db"]
        shutil.copyfile(self._sqlite, target)

    def postgres(self) -> str:
        """The name of the template database."""
        if self._postgres is None:
            import psycopg

            name = f"govern_schema_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(_postgres_admin_url(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self._postgres = name
            self._migrate(_postgres_url(name))
        return self._postgres

    @staticmethod
    def _migrate(url: str) -> None:
        from govern.storage import migrate
        from govern.storage.database import Database

        db = Database(url)
        try:
            migrate.upgrade(db)
        finally:
            db.dispose()  # CREATE DATABASE ... TEMPLATE needs the template without connections

    def drop(self) -> None:
        if self._postgres is not None:
            import psycopg

            with psycopg.connect(_postgres_admin_url(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self._postgres}" WITH (FORCE)')


@pytest.fixture(scope="session")
def schema_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchemaTemplates]:
    templates = SchemaTemplates(tmp_path_factory.mktemp("schema"))
    yield templates
    templates.drop()


@pytest.fixture(params=BACKENDS)
def cat(
    request: pytest.FixtureRequest, tmp_path: Path, schema_templates: SchemaTemplates
) -> Iterator[Catalogue]:
    """A catalogue with users on each backend (SQLite file and PostgreSQL)."""
    if request.param == "sqlite":
        path = tmp_path / "govern.db"
        schema_templates.copy_sqlite(path)
        made = make_catalogue(f"sqlite:///{path}")
        yield made
        made.close()
    else:
        with postgres_database(template=schema_templates.postgres()) as url:
            made = make_catalogue(url)
            yield made
            made.close()


@pytest.fixture
def sqlite_cat(sqlite_url: str, schema_templates: SchemaTemplates) -> Iterator[Catalogue]:
    schema_templates.copy_sqlite(Path(sqlite_url.removeprefix("sqlite:///")))
    made = make_catalogue(sqlite_url)
    yield made
    made.close()


@pytest.fixture(scope="session")
def sample_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample models, trained once per test session by the shipped training script."""
    out = tmp_path_factory.mktemp("sample-artifacts")
    subprocess.run(
        [sys.executable, str(SAMPLE / "train_credit_model.py"), str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def onnx_artifacts(sample_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 1.1.0 exported by skl2onnx, one input per column: ``credit-risk-1.1.0.onnx``
    gives its probabilities as a ZipMap, ``credit-risk-1.1.0-tensor.onnx`` (``zipmap=False``)
    as a plain ``[N, 2]`` float tensor."""
    import pandas as pd
    import skops.io as sio
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    from govern.domain.governance import DEFAULT_SKOPS_TRUSTED_TYPES

    trusted = list(DEFAULT_SKOPS_TRUSTED_TYPES)
    model = sio.load(sample_artifacts / "credit-risk-1.1.0.skops", trusted=trusted)
    features = pd.read_csv(SAMPLE / "credit_holdout.csv")[list(model.feature_names_in_)]
    inputs = [
        (
            c,
            Int64TensorType([None, 1])
            if features[c].dtype.kind == "i"
            else StringTensorType([None, 1]),
        )
        for c in features.columns
    ]
    out = tmp_path_factory.mktemp("onnx-artifacts")
    for name, zipmap in (
        ("credit-risk-1.1.0.onnx", True),
        ("credit-risk-1.1.0-tensor.onnx", False),
    ):
        exported = to_onnx(
            model, initial_types=inputs, target_opset=17, options={id(model): {"zipmap": zipmap}}
        )
        (out / name).write_bytes(exported.SerializeToString())
    return out


def _own_key(full_env: dict[str, str], given: dict[str, str] | None) -> None:
    """Act with the named user's own key, unless the test chose a key directory itself."""
    if "GOVERN_KEY_DIR" in (given or {}):
        return
    user = full_env.get("GOVERN_USER") or "admin"
    full_env["GOVERN_KEY_DIR"] = str(key_dir(user))


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    user: str | None = None,
    db: str | None = None,
    input_text: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m govern`` as a real subprocess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    if user is not None:
        full_env["GOVERN_USER"] = user
    if db is not None:
        full_env["GOVERN_DATABASE_URL"] = db
    _own_key(full_env, env)
    return subprocess.run(
        [sys.executable, "-m", "govern", *args],
        cwd=cwd,
        env=full_env,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def invoke_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    user: str | None = None,
    db: str | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``govern`` in this process, through ``govern.cli.app.run`` (what ``python -m govern``
    exits with), and answer as :func:`run_cli` does.

    A fresh interpreter costs about a second of imports, so a test that runs one command on
    many inputs (bad cards, bad checkpoints, refusals) uses this; its exit codes, stdout and
    stderr come from the same code. What only a real process shows (its exit status, a light
    start, what libraries log to stderr, a hang on a pipe) stays with :func:`run_cli`, which
    each such family of tests keeps for at least one case. The arguments mean what they mean
    there: ``env`` is added to this process's environment, stdin is ``input_text`` and is no
    terminal.
    """
    from govern.cli import runtime
    from govern.cli.app import run

    extra = dict(env or {})
    if user is not None:
        extra["GOVERN_USER"] = user
    if db is not None:
        extra["GOVERN_DATABASE_URL"] = db
    merged = {**os.environ, **extra}
    _own_key(merged, env)
    extra["GOVERN_KEY_DIR"] = merged["GOVERN_KEY_DIR"]
    saved_env = dict(os.environ)
    saved_cwd = Path.cwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_options, saved_context = runtime.options, runtime.context
    opened: list[Context] = []

    def context() -> Context:
        # The process would close its catalogue connections at exit; here they are closed below.
        made = saved_context()
        opened.append(made)
        return made

    out, err = io.StringIO(), io.StringIO()
    os.environ.update(extra)
    runtime.context = context
    try:
        if cwd is not None:
            os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(input_text or ""), out, err
        code = run(list(args))
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        runtime.options, runtime.context = saved_options, saved_context
        for made in opened:
            made.close()
    return subprocess.CompletedProcess(
        ["govern", *args], code, stdout=out.getvalue(), stderr=err.getvalue()
    )


# Cross-checks: the same fact checked by an external tool (poppler's pdfsig, NSS's certutil,
# tmux...). Each test marked ``@pytest.mark.cross_check("tool", ...)`` runs when its tools are
# installed; otherwise it is skipped and counted in one line at the end of the run, never
# silently. A helper that runs a tool calls :func:`require_tool` first, to the same effect from
# that point of its test on. CI (.ci/run) installs the tools and sets
# GOVERN_REQUIRE_CROSS_CHECKS=1, under which a missing tool fails the test instead.

#: The Debian package that provides each tool (the README's list, which .ci/run installs).
CROSS_CHECK_PACKAGES = {
    "pdfsig": "poppler-utils",
    "pdftotext": "poppler-utils",
    "pdftoppm": "poppler-utils",
    "pdfinfo": "poppler-utils",
    "pdffonts": "poppler-utils",
    "certutil": "libnss3-tools",
    "tmux": "tmux",
}
REQUIRE_CROSS_CHECKS = os.environ.get("GOVERN_REQUIRE_CROSS_CHECKS") == "1"
_NOT_RUN = "cross-check not run, tools missing:"
_missing_tools: dict[str, int] = {}


def _packages(tools: list[str]) -> str:
    return " ".join(dict.fromkeys(CROSS_CHECK_PACKAGES.get(tool, tool) for tool in tools))


def require_tool(*tools: str) -> None:
    """Skip the rest of this test (counted) when a tool is missing; fail it when CI requires."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return
    if REQUIRE_CROSS_CHECKS:
        pytest.fail(
            f"cross-check needs {', '.join(missing)}, not installed "
            f"(GOVERN_REQUIRE_CROSS_CHECKS=1): apt-get install {_packages(missing)}",
            pytrace=False,
        )
    pytest.skip(f"{_NOT_RUN} {' '.join(missing)}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("cross_check"):
        require_tool(*marker.args)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Here (not in setup) so that under xdist the controller counts its workers' skips.
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if _NOT_RUN in reason:
            for tool in reason.split(_NOT_RUN, 1)[1].split():
                _missing_tools[tool] = _missing_tools.get(tool, 0) + 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _missing_tools:
        counts = ", ".join(f"{tool} x{n}" for tool, n in sorted(_missing_tools.items()))
        terminalreporter.write_line(
            f"cross-checks not run (tools missing): {counts} — "
            f"install {_packages(sorted(_missing_tools))}",
            yellow=True,
            bold=True,
        )
