"""Writing the files govern makes (reports, checkpoints, exports): one way, safely.

Every ``-o``/``--output`` path goes through :func:`check_target` before any work is done,
and is then written by :func:`write` (a file nothing in the catalogue records) or
:class:`RecordedOutput` (a file a catalogue row and its audit event record: a report, a
checkpoint).

What is refused (:class:`~govern.errors.InputError`, exit 2): a symbolic link (even one whose
target does not exist: govern never writes through a link), a device, pipe, socket or other
non-regular file, a directory (unless the command takes one, like ``audit checkpoint -o DIR``;
that directory must not be a link either), a parent directory that does not exist, and an
existing file unless ``force`` is given. ``force`` replaces a regular file only.

How a file is written: a temporary file ``.NAME.govern-RANDOM.tmp`` in the target's directory
(``O_EXCL|O_NOFOLLOW``), fsynced, then moved into place: ``link`` when not forcing, so a file
that appeared meanwhile is never replaced, else ``rename`` (atomic: a reader sees the old file
or the new one), then the directory is fsynced.

The guarantee for a recorded file, after a kill -9 at any moment: either the new file is in
place *and* its row and audit event are committed, or neither is and any earlier file at that
path is as it was. Two stores cannot commit together, so a small write-ahead journal bridges
them. In ``$GOVERN_HOME/pending`` an entry names the temporary file, the target, a hard link
keeping the earlier file (``.NAME.govern-RANDOM.old``, with ``force``), the SHA-256 and the
audit event (sequence number and hash) that records the file. The order is:

1. the journal entry (fsynced), written inside the catalogue transaction, after its event;
2. the earlier file kept under the ``.old`` name (with ``force``);
3. the temporary file, fsynced; then moved into place, the directory fsynced;
4. the transaction commits;
5. the ``.old`` link and the temporary name are removed, then the journal entry.

Recovery (:func:`recover`) runs when the next govern command opens the catalogue: one
``listdir`` of an almost always empty directory. For each entry left by a process that died
(writers hold a shared lock on ``pending/lock``; recovery takes it exclusively and skips when
it cannot), it asks the catalogue whether the event exists with that hash. If it does, the
file is in place and only the leftovers go; if not, the earlier file is put back (or the new
one removed) and the leftovers go. Entries of another catalogue wait for it; a file nothing
records (an export) only ever needs its temporary file removed.

The crash points the tests kill the process at are named by ``GOVERN_TEST_CRASH_AT``
(e.g. ``report.after-commit``); see :func:`crash_point`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import signal
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern.errors import InputError

#: The journal's directory under the govern home.
PENDING = "pending"
_LOCK = "lock"
_ENTRY_SUFFIX = ".json"

#: ``committed(catalogue_id, seq, hash)``: does the catalogue hold that event? None: it is
#: not this catalogue (the entry waits for a command that opens its own).
Committed = Callable[[str, int, str], bool | None]


def crash_point(name: str) -> None:
    """Kill this process here if ``GOVERN_TEST_CRASH_AT`` names ``name`` (the crash tests).

    Names are ``<what>.<step>``: what is ``report``, ``checkpoint`` or ``export``; the steps
    are ``before-journal``, ``after-journal``, ``after-temp``, ``after-place``,
    ``after-commit`` and ``after-cleanup``.
    """
    wanted = os.environ.get("GOVERN_TEST_CRASH_AT")
    if wanted and wanted == name:
        os.kill(os.getpid(), signal.SIGKILL)


# --- what may be written ------------------------------------------------------------------


def check_target(path: Path, *, force: bool = False, directory: bool = False) -> Path:
    """Refuse ``path`` as an output unless it is a new file or (with ``force``) a regular one.

    With ``directory``, an existing directory (not a link to one) is accepted and returned
    as it is; the caller then checks the file it makes inside with this function again.

    Returns:
        The absolute path to write (its parent resolved; the name itself never followed).

    Raises:
        InputError: a link, device, pipe, socket, directory, missing parent, or an existing
            file without ``force``.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise InputError(f"{path}: cannot write there: {exc.strerror}") from None
    if info is not None:
        mode = info.st_mode
        if stat.S_ISLNK(mode):
            raise InputError(
                f"{path}: is a symbolic link; govern does not write through links "
                "(give the real path)"
            )
        if stat.S_ISDIR(mode):
            if directory:
                return path.absolute()
            raise InputError(f"{path}: is a directory; give a file name with -o")
        if not stat.S_ISREG(mode):
            raise InputError(
                f"{path}: is not a regular file (a device, pipe or socket); "
                "give a new file name with -o"
            )
        if not force:
            raise InputError(f"{path}: already exists; use --force to replace it")
    parent = path.parent if str(path.parent) else Path()
    if not parent.is_dir():
        raise InputError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{path}: cannot write there (permission denied)")
    return parent.resolve() / path.name


# --- the journal --------------------------------------------------------------------------


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def _shared_lock(journal: Path) -> Iterator[None]:
    """Held by a writer while its journal entry exists: recovery leaves live entries alone."""
    import fcntl

    journal.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(journal / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


@dataclass
class _Entry:
    """One journal entry: what a writer is about to do, and how to undo or finish it."""

    name: str
    final: Path
    temp: Path
    backup: Path | None
    sha256: str
    force: bool
    catalogue_id: str | None = None
    seq: int | None = None
    event_hash: str | None = None
    #: (device, inode) of the file at ``final`` when the entry was written, if any.
    earlier: tuple[int, int] | None = None

    @classmethod
    def new(cls, final: Path, data: bytes, *, force: bool) -> _Entry:
        token = secrets.token_hex(8)
        directory = final.parent
        return cls(
            name=token,
            final=final,
            temp=directory / f".{final.name}.govern-{token}.tmp",
            backup=directory / f".{final.name}.govern-{token}.old" if force else None,
            sha256=hashlib.sha256(data).hexdigest(),
            force=force,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "govern-pending-output/1",
            "final": str(self.final),
            "temp": str(self.temp),
            "backup": str(self.backup) if self.backup else None,
            "sha256": self.sha256,
            "force": self.force,
            "catalogue_id": self.catalogue_id,
            "seq": self.seq,
            "event_hash": self.event_hash,
            "earlier": list(self.earlier) if self.earlier else None,
            "pid": os.getpid(),
        }

    @classmethod
    def from_json(cls, name: str, document: dict[str, Any]) -> _Entry:
        backup = document.get("backup")
        earlier = document.get("earlier")
        return cls(
            name=name,
            final=Path(document["final"]),
            temp=Path(document["temp"]),
            backup=Path(backup) if backup else None,
            sha256=str(document["sha256"]),
            force=bool(document["force"]),
            catalogue_id=document.get("catalogue_id"),
            seq=document.get("seq"),
            event_hash=document.get("event_hash"),
            earlier=(int(earlier[0]), int(earlier[1])) if earlier else None,
        )

    def save(self, journal: Path) -> None:
        current = _lstat(self.final)
        self.earlier = (current.st_dev, current.st_ino) if current is not None else None
        path = journal / f"{self.name}{_ENTRY_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(json.dumps(self.to_json()).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_directory(journal)

    def drop(self, journal: Path) -> None:
        _unlink(journal / f"{self.name}{_ENTRY_SUFFIX}")

    # --- the file system steps ------------------------------------------------------------

    def place(self, data: bytes, label: str) -> None:
        """Keep the earlier file (with force), write the temporary file, move it into place."""
        if self.backup is not None:
            with contextlib.suppress(FileNotFoundError):  # nothing there to keep
                os.link(self.final, self.backup, follow_symlinks=False)
        try:
            fd = os.open(
                self.temp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
            )
        except OSError as exc:
            raise InputError(f"{self.final}: cannot write: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise InputError(f"{self.final}: cannot write: {exc.strerror}") from None
        crash_point(f"{label}.after-temp")
        try:
            if self.force:
                current = _lstat(self.final)
                if current is not None and not stat.S_ISREG(current.st_mode):
                    # Swapped for a link or a device since it was checked: never replace it.
                    raise InputError(
                        f"{self.final}: is no longer a regular file; nothing was replaced"
                    )
                self.temp.rename(self.final)
            else:
                os.link(self.temp, self.final, follow_symlinks=False)
        except FileExistsError:
            raise InputError(f"{self.final}: already exists; use --force to replace it") from None
        except OSError as exc:
            if exc.errno in (errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY):
                raise InputError(f"{self.final}: is a directory now; nothing was written") from None
            raise InputError(f"{self.final}: cannot write: {exc.strerror}") from None
        _fsync_directory(self.final.parent)

    def finish(self) -> None:
        """After the commit: only the leftovers go (the file is in place)."""
        _unlink(self.backup)
        _unlink(self.temp)  # when not forcing, the file's second name; else already moved
        _fsync_directory(self.final.parent)

    def undo(self) -> None:
        """Not committed: the earlier file back (or the new one gone), and the leftovers."""
        if self.backup is not None and _lstat(self.backup) is not None:
            if _same_file(self.backup, self.final):
                _unlink(self.backup)
            else:
                self.backup.rename(self.final)
        elif _lstat(self.temp) is not None:
            if _same_file(self.temp, self.final):
                _unlink(self.final)
        elif self.force and _sha256(self.final) == self.sha256:
            # Moved into place (the temporary name is gone) where no file was before, unless
            # it is the very file that was there (killed before anything moved).
            current = _lstat(self.final)
            if current is not None and (current.st_dev, current.st_ino) != self.earlier:
                _unlink(self.final)
        _unlink(self.temp)
        with contextlib.suppress(OSError):
            _fsync_directory(self.final.parent)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None


def _same_file(a: Path, b: Path) -> bool:
    first, second = _lstat(a), _lstat(b)
    return (
        first is not None
        and second is not None
        and (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)
    )


def _sha256(path: Path) -> str | None:
    info = _lstat(path)
    if info is None or not stat.S_ISREG(info.st_mode):
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- writing ------------------------------------------------------------------------------


def write(
    path: Path,
    data: bytes,
    *,
    journal: Path | None = None,
    force: bool = False,
    label: str = "export",
) -> Path:
    """Write a file nothing in the catalogue records (an export): checked, then atomically.

    ``journal`` is the pending directory (default ``$GOVERN_HOME/pending``): a kill leaves
    at most a temporary file there, which the next recovery removes.

    Returns:
        The absolute path written.
    """
    if journal is None:
        from govern.locations import default_home

        journal = default_home() / PENDING
    final = check_target(path, force=force)
    entry = _Entry.new(final, data, force=force)
    # No backup is needed: the move into place is the commit.
    entry.backup = None
    with _shared_lock(journal):
        entry.save(journal)
        try:
            entry.place(data, label)
        except BaseException:
            _unlink(entry.temp)
            entry.drop(journal)
            raise
        crash_point(f"{label}.after-place")
        entry.finish()
        entry.drop(journal)
    return final


class RecordedOutput:
    """A file that a catalogue transaction records; see the module's docstring for the order.

    Use::

        with RecordedOutput(target, data, journal=..., force=..., committed=...) as output:
            with ctx.write(...) as tx:
                record = tx.audit(path=str(output.path), sha256=output.sha256, ...)
                output.place(catalogue_id, record.seq, record.hash)
    """

    def __init__(
        self,
        path: Path,
        data: bytes,
        *,
        journal: Path,
        committed: Committed,
        force: bool = False,
        label: str = "report",
    ) -> None:
        self.path = check_target(path, force=force)
        self._data = data
        self._journal = journal
        self._committed = committed
        self._label = label
        self._entry = _Entry.new(self.path, data, force=force)
        self._stack = contextlib.ExitStack()
        self._saved = False

    @property
    def sha256(self) -> str:
        return self._entry.sha256

    def __enter__(self) -> RecordedOutput:
        self._stack.enter_context(_shared_lock(self._journal))
        return self

    def place(self, catalogue_id: str, seq: int, event_hash: str) -> None:
        """Inside the transaction, after its event: journal, then the file into place."""
        crash_point(f"{self._label}.before-journal")
        self._entry.catalogue_id, self._entry.seq, self._entry.event_hash = (
            catalogue_id,
            seq,
            event_hash,
        )
        self._entry.save(self._journal)
        self._saved = True
        crash_point(f"{self._label}.after-journal")
        self._entry.place(self._data, self._label)
        crash_point(f"{self._label}.after-place")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        try:
            if not self._saved:
                return
            entry = self._entry
            if kind is None:
                crash_point(f"{self._label}.after-commit")
                entry.finish()
                crash_point(f"{self._label}.after-cleanup")
                entry.drop(self._journal)
                return
            # Rolled back, or the commit itself failed: ask the catalogue which it was.
            try:
                committed = self._committed(
                    entry.catalogue_id or "", entry.seq or 0, entry.event_hash or ""
                )
            except Exception:  # an unreachable catalogue: the next command recovers
                return
            if committed:
                entry.finish()
            else:
                entry.undo()
            entry.drop(self._journal)
        finally:
            self._stack.close()


# --- recovery -----------------------------------------------------------------------------


def recover(journal: Path, committed: Committed) -> int:
    """Finish or undo what crashed processes left in ``journal``; returns how many.

    Cheap when there is nothing to do: one ``listdir``. Entries of live writers (holding the
    shared lock) are left alone: recovery then waits for the next command.
    """
    try:
        names = [p.name for p in journal.iterdir() if p.name != _LOCK]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    if not names:
        return 0
    import fcntl

    fd = os.open(journal / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        done = 0
        for name in sorted(names):
            try:
                done += _recover_one(journal, name, committed)
            except OSError:
                # A file it cannot touch (permissions, a full disk): the entry stays for a
                # later command; this one goes on, it is not the one that failed.
                continue
        return done
    finally:
        os.close(fd)


def _recover_one(journal: Path, name: str, committed: Committed) -> bool:
    path = journal / name
    if not name.endswith(_ENTRY_SUFFIX):
        _unlink(path)
        return False
    try:
        document = json.loads(path.read_bytes())
        entry = _Entry.from_json(name.removesuffix(_ENTRY_SUFFIX), document)
    except (OSError, ValueError, KeyError, TypeError):
        # Killed while writing the entry: it was fsynced before any file was made, so
        # there is nothing else to clean up.
        _unlink(path)
        return True
    if entry.seq is None or entry.event_hash is None:
        _unlink(entry.temp)  # a file nothing records: its move was the commit
    else:
        verdict = committed(entry.catalogue_id or "", entry.seq, entry.event_hash)
        if verdict is None:
            return False  # another catalogue's: it waits for a command that opens that one
        if verdict:
            entry.finish()
        else:
            entry.undo()
    entry.drop(journal)
    return True


__all__ = [
    "PENDING",
    "Committed",
    "RecordedOutput",
    "check_target",
    "crash_point",
    "recover",
    "write",
]
