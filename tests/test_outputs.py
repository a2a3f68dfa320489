"""Output paths (govern.outputs): what ``-o`` refuses, on every command that writes a file.

Refused, with exit 2, one stderr line and nothing written or recorded: a device, a fifo, a
socket, a symbolic link (also a dangling one), a directory, a missing parent directory, and
an existing file without ``--force``; ``--force`` replaces a regular file atomically and
never a link or a device.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from govern import outputs
from govern.services import catalogue, keys
from tests.conftest import SAMPLE, Catalogue, invoke_cli, run_cli
from tests.helpers import assert_clean_failure, snapshot

REF = "credit-risk@1.0.0"
DEV_FULL = Path("/dev/full")


@pytest.fixture
def registered(sqlite_cat: Catalogue) -> Catalogue:
    catalogue.register_version(sqlite_cat.ctx("alice"), SAMPLE / "credit-risk-1.0.0.card.yaml")
    return sqlite_cat


def _report(cat: Catalogue, target: Path, *extra: str) -> list[str]:
    return ["report", REF, "-f", "md", "-o", str(target), *extra]


def _checkpoint(cat: Catalogue, target: Path, *extra: str) -> list[str]:
    return ["audit", "checkpoint", "-o", str(target), *extra]


COMMANDS: dict[str, Callable[[Catalogue, Path], list[str]]] = {
    "report": _report,
    "checkpoint": _checkpoint,
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def unix_socket(workdir: Path) -> Iterator[Path]:
    path = workdir / "sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    try:
        yield path
    finally:
        server.close()


def _refused(cat: Catalogue, args: list[str], message: str) -> None:
    """Exit 2, exactly one clean stderr line naming ``message``, catalogue unchanged."""
    before = snapshot(cat.url)
    lines = assert_clean_failure(invoke_cli(*args, db=cat.url))
    assert len(lines) == 1 and message in lines[0], lines
    assert snapshot(cat.url) == before


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_device_is_refused_and_stays_a_device(
    registered: Catalogue, command: str, workdir: Path
) -> None:
    _refused(registered, COMMANDS[command](registered, DEV_FULL), "not a regular file")
    _refused(
        registered,
        [*COMMANDS[command](registered, DEV_FULL), "--force"],
        "not a regular file",
    )
    assert stat.S_ISCHR(DEV_FULL.lstat().st_mode)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_fifo_and_a_socket_are_refused(
    registered: Catalogue, command: str, workdir: Path, unix_socket: Path
) -> None:
    fifo = workdir / "pipe"
    os.mkfifo(fifo)
    for target in (fifo, unix_socket):
        for extra in ([], ["--force"]):
            _refused(
                registered, [*COMMANDS[command](registered, target), *extra], "not a regular file"
            )
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and stat.S_ISSOCK(unix_socket.lstat().st_mode)
    assert _listing(workdir) == ["pipe", "sock"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_symbolic_link_is_refused_even_with_force_and_its_target_is_untouched(
    registered: Catalogue, command: str, workdir: Path
) -> None:
    real = workdir / "real.txt"
    real.write_text("earlier\n")
    link = workdir / "link.txt"
    link.symlink_to(real)
    dangling = workdir / "dangling.txt"
    dangling.symlink_to(workdir / "nowhere.txt")
    for target in (link, dangling):
        for extra in ([], ["--force"]):
            _refused(registered, [*COMMANDS[command](registered, target), *extra], "symbolic link")
    assert real.read_text() == "earlier\n" and link.is_symlink()
    assert _listing(workdir) == ["dangling.txt", "link.txt", "real.txt"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_missing_parent_directory_is_refused(
    registered: Catalogue, command: str, workdir: Path
) -> None:
    target = workdir / "no-such-dir" / "out.txt"
    _refused(registered, COMMANDS[command](registered, target), "does not exist")
    assert _listing(workdir) == []


def test_a_directory_is_refused_for_a_report(registered: Catalogue, workdir: Path) -> None:
    for extra in ([], ["--force"]):
        _refused(registered, [*_report(registered, workdir), *extra], "is a directory")
    assert _listing(workdir) == []


def test_a_checkpoint_goes_into_a_directory_but_not_through_a_link_to_one(
    registered: Catalogue, workdir: Path, tmp_path: Path
) -> None:
    linked = tmp_path / "linked"
    linked.symlink_to(workdir)
    _refused(registered, _checkpoint(registered, linked), "symbolic link")
    assert _listing(workdir) == []
    done = invoke_cli(*_checkpoint(registered, workdir), db=registered.url)
    assert done.returncode == 0, done.stderr
    (written,) = workdir.iterdir()
    assert written.name.startswith("checkpoint-") and written.is_file()
    # The file inside follows the rules: the next one's name taken already is refused.
    seq = int(written.stem.removeprefix("checkpoint-"))
    taken = workdir / f"checkpoint-{seq + 1}.json"
    taken.write_text("earlier\n")
    _refused(registered, _checkpoint(registered, workdir), "already exists")
    assert taken.read_text() == "earlier\n"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_existing_file_needs_force_which_replaces_it_atomically(
    registered: Catalogue, command: str, workdir: Path
) -> None:
    target = workdir / "out.txt"
    target.write_text("earlier\n")
    _refused(registered, COMMANDS[command](registered, target), "already exists; use --force")
    assert target.read_text() == "earlier\n"
    inode = target.stat().st_ino
    before = snapshot(registered.url)
    done = invoke_cli(*COMMANDS[command](registered, target), "--force", db=registered.url)
    assert done.returncode == 0, done.stderr
    # Replaced by a rename, not rewritten in place: a reader saw the old file or the new one.
    assert target.read_text() != "earlier\n" and target.stat().st_ino != inode
    assert _listing(workdir) == ["out.txt"]
    after = snapshot(registered.url)
    assert after.events == before.events + 1
    assert not list((Path(os.environ["GOVERN_HOME"]) / outputs.PENDING).glob("*.json"))


def test_a_refusal_is_one_line_from_a_real_process(registered: Catalogue) -> None:
    result = run_cli("report", REF, "-f", "md", "-o", str(DEV_FULL), db=registered.url)
    lines = assert_clean_failure(result)
    assert lines == [
        "error: /dev/full: is not a regular file (a device, pipe or socket); "
        "give a new file name with -o"
    ]
    assert stat.S_ISCHR(DEV_FULL.lstat().st_mode)


# --- the other commands that write a file ------------------------------------------------


def test_audit_export_follows_the_rules(sqlite_cat: Catalogue, workdir: Path) -> None:
    target = workdir / "log.jsonl"
    link = workdir / "link.jsonl"
    link.symlink_to(target)
    _refused(sqlite_cat, ["audit", "export", "-o", str(DEV_FULL)], "not a regular file")
    _refused(sqlite_cat, ["audit", "export", "-o", str(link), "--force"], "symbolic link")
    assert invoke_cli("audit", "export", "-o", str(target), db=sqlite_cat.url).returncode == 0
    first = target.read_text()
    _refused(sqlite_cat, ["audit", "export", "-o", str(target)], "already exists")
    assert target.read_text() == first
    forced = invoke_cli("audit", "export", "-o", str(target), "--force", db=sqlite_cat.url)
    assert forced.returncode == 0 and target.read_text() == first
    assert _listing(workdir) == ["link.jsonl", "log.jsonl"]


def test_keys_export_follows_the_rules(sqlite_cat: Catalogue, workdir: Path) -> None:
    target = workdir / "me.pem"
    target.write_text("earlier\n")
    for args, message in (
        (["-o", str(DEV_FULL)], "not a regular file"),
        (["-o", str(target)], "already exists"),
        (["-o", str(workdir)], "is a directory"),
    ):
        lines = assert_clean_failure(invoke_cli("keys", "export", *args))
        assert len(lines) == 1 and message in lines[0], lines
    assert target.read_text() == "earlier\n"
    assert invoke_cli("keys", "export", "-o", str(target), "--force").returncode == 0
    assert target.read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_keys_org_export_follows_the_rules(sqlite_cat: Catalogue, workdir: Path) -> None:
    keys.org_init(sqlite_cat.ctx("admin"), common_name="govern test instance")
    fifo = workdir / "pipe"
    os.mkfifo(fifo)
    _refused(sqlite_cat, ["keys", "org", "export", "-o", str(fifo), "--force"], "not a regular")
    _refused(sqlite_cat, ["keys", "org", "export", "-o", str(workdir / "x" / "y")], "not exist")
    target = workdir / "org.pem"
    assert invoke_cli("keys", "org", "export", "-o", str(target), db=sqlite_cat.url).returncode == 0
    assert "BEGIN CERTIFICATE" in target.read_text()
    _refused(sqlite_cat, ["keys", "org", "export", "-o", str(target)], "already exists")


def test_policy_check_output_follows_the_rules(sqlite_cat: Catalogue, workdir: Path) -> None:
    stateless = [
        "check", "--card", str(SAMPLE / "credit-risk-1.1.0.card.yaml"),
        "--data", str(SAMPLE / "credit_holdout_scored.csv"), "--target", "credit",
        "--sensitive", "sex,age_group", "--predictions", "pred", "--positive", "1",
        "--policy", "baseline", "--no-record",
    ]  # fmt: skip
    target = workdir / "check.txt"
    target.write_text("earlier\n")
    for args, message in (
        (["-o", str(DEV_FULL), "--force"], "not a regular file"),
        (["-o", str(target)], "already exists"),
    ):
        lines = assert_clean_failure(invoke_cli(*stateless, *args))
        assert len(lines) == 1 and message in lines[0], lines
    assert target.read_text() == "earlier\n"
    forced = invoke_cli(*stateless, "-o", str(target), "--force")
    assert forced.returncode in (0, 1), forced.stderr
    assert target.read_text() != "earlier\n"
    assert _listing(workdir) == ["check.txt"]


def test_a_file_that_appears_after_the_check_is_never_replaced(
    sqlite_cat: Catalogue, workdir: Path
) -> None:
    """The race: the path was free when checked, someone wrote it before the move into
    place. The move is a link, which fails: the transaction rolls back, their file stays."""
    from govern.errors import InputError

    ctx = sqlite_cat.ctx("admin")
    target = workdir / "raced.json"
    before = snapshot(sqlite_cat.url)
    with (
        pytest.raises(InputError, match="already exists"),
        outputs.RecordedOutput(
            target, b"ours\n", journal=ctx.pending_dir, committed=ctx.output_committed
        ) as placed,
    ):
        target.write_text("theirs\n")
        with ctx.write("audit.checkpoint", "") as tx:
            record = tx.audit(seq=0, head_hash="", sha256=placed.sha256, path=str(target))
            placed.place(ctx.catalogue_id(tx.session), record.seq, record.hash)
    assert target.read_text() == "theirs\n"
    assert _listing(workdir) == ["raced.json"]
    assert snapshot(sqlite_cat.url) == before
    assert [p.name for p in ctx.pending_dir.iterdir()] == ["lock"]
