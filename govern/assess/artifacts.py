"""Model artifacts: hashing and recognising the format by content, not by name alone.

A pickle renamed to ``model.skops`` is still a pickle: the format recorded in the catalogue
comes from the file's first bytes, so policies that forbid pickles cannot be fooled.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern.errors import DataError

_CHUNK = 1 << 20
#: Members smaller than this unpacked are never refused for their compression ratio: a
#: small file of repeated bytes compresses very well and harms nobody.
_RATIO_FLOOR = 1 << 20


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    path: Path
    sha256: str
    size: int
    format: str  # skops | onnx | pickle | joblib | unknown


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def sniff_format(path: Path, head: bytes) -> str:
    suffix = path.suffix.lower()
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "joblib" if suffix == ".joblib" else "pickle"
    if head.startswith(b"PK\x03\x04"):
        # skops files are zip archives holding schema.json; other zips are not models we know
        return "skops" if suffix == ".skops" or _zip_has_schema(path) else "unknown"
    if suffix == ".onnx" and head[:1] == b"\x08":  # protobuf field 1 (ir_version), varint
        return "onnx"
    if suffix in {".pkl", ".pickle", ".joblib"}:
        return "pickle"
    return "unknown"


def _zip_has_schema(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return "schema.json" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def peek_format(path: Path) -> str | None:
    """The artifact's format from its first bytes, without hashing it; None if unreadable."""
    if not path.is_file():  # a pipe would block the read
        return None
    try:
        with path.open("rb") as handle:
            return sniff_format(path, handle.read(16))
    except OSError:
        return None


def inspect_artifact(path: Path) -> ArtifactInfo:
    """Hash a model artifact and recognise its format; nothing is loaded or executed."""
    if not path.exists():
        raise DataError(f"{path}: no such model artifact")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a model artifact file")
    if not path.is_file():  # a device or a pipe would be hashed forever
        raise DataError(f"{path}: is not a regular file, expected a model artifact file")
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
        sha256, size = sha256_file(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    if size == 0:
        raise DataError(f"{path}: model artifact is empty")
    return ArtifactInfo(path=path, sha256=sha256, size=size, format=sniff_format(path, head))


def unpack_zip(path: Path, *, max_bytes: int, max_ratio: int) -> io.BytesIO:
    """A checked copy of the zip archive at ``path`` (a skops file), held in memory.

    The central directory is checked before anything is unpacked: the sizes it declares,
    in all and as a ratio to each member's compressed size. Headers can lie, so the bytes
    actually unpacked are counted too, and the copy (stored, not compressed) holds only
    bytes that were counted: a loader reading it cannot unpack more than ``max_bytes``.

    Raises:
        DataError: not a readable zip, or over a limit (naming the setting to raise).
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_declared(path, members, max_bytes=max_bytes, max_ratio=max_ratio)
            copy = io.BytesIO()
            total = 0
            with zipfile.ZipFile(copy, "w", zipfile.ZIP_STORED) as checked:
                for member in members:
                    if member.is_dir():
                        continue
                    parts = []
                    with archive.open(member) as source:
                        while chunk := source.read(_CHUNK):
                            total += len(chunk)
                            if total > max_bytes:
                                raise DataError(_too_big(path, total, max_bytes, unpacking=True))
                            parts.append(chunk)
                    checked.writestr(member.filename, b"".join(parts))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise DataError(f"{path}: not a readable zip archive ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    copy.seek(0)
    return copy


def _check_declared(path: Path, members: list[Any], *, max_bytes: int, max_ratio: int) -> None:
    total = sum(member.file_size for member in members)
    if total > max_bytes:
        raise DataError(_too_big(path, total, max_bytes, unpacking=False))
    for member in members:
        if member.file_size <= _RATIO_FLOOR:
            continue
        ratio = member.file_size / max(member.compress_size, 1)
        if ratio > max_ratio:
            raise DataError(
                f"{path}: member {member.filename!r} would unpack to {ratio:,.0f} times its "
                f"compressed size, over the limit of {max_ratio:,} (GOVERN_MAX_COMPRESSION_RATIO); "
                "it looks like a zip bomb, so nothing was unpacked"
            )


def _too_big(path: Path, size: int, limit: int, *, unpacking: bool) -> str:
    said = "unpacked to more than" if unpacking else "would unpack to"
    amount = f"{limit:,}" if unpacking else f"{size:,}"
    return (
        f"{path}: {said} {amount} bytes, over the limit of {limit:,} "
        "(GOVERN_MAX_UNPACKED_BYTES), so it was not loaded"
    )
