"""Which prediction-log files a monitoring run reads, what their columns mean, their hashes.

A run names its logs as files or globs of Parquet, CSV or JSON Lines (``--logs
'logs/2026-*/*.parquet'``). Each file is hashed as it is found: the hash is what makes a
run idempotent (a file already counted is not counted again) and what the audit event
records.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern.errors import DataError, InputError

#: File suffix -> DuckDB reader.
FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "json",
    ".ndjson": "json",
}


@dataclass(frozen=True)
class LogColumns:
    """What the log's columns mean (``--timestamp``, ``--prediction``... of ``monitor run``)."""

    timestamp: str = "timestamp"
    request_id: str = "request_id"
    prediction: str = "prediction"
    sensitive: tuple[str, ...] = ()
    #: The model's score (a probability of the positive decision), for score histograms.
    score: str | None = None
    #: The actual outcome, when it is known; rows without one count for decisions only.
    outcome: str | None = None
    #: A column naming the model version of each row; rows of other versions are left out.
    version: str | None = None
    #: A shadow's logs: the champion's decision for the same request, to compare with.
    champion: str | None = None
    #: Input columns whose distribution is watched for drift (histograms per day).
    features: tuple[str, ...] = ()
    #: The decision (and outcome) label that is positive (favourable).
    positive: str = "1"

    def to_json(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "sensitive": list(self.sensitive),
            "features": list(self.features),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> LogColumns:
        """What :meth:`to_json` stored."""
        return cls(
            **{
                **document,
                "sensitive": tuple(document.get("sensitive") or ()),
                "features": tuple(document.get("features") or ()),
            }
        )

    def named(self) -> dict[str, str]:
        """Each role -> its column, for the roles this log has."""
        roles = {
            "timestamp": self.timestamp,
            "request id": self.request_id,
            "prediction": self.prediction,
        }
        roles |= {f"sensitive feature {s}": s for s in self.sensitive}
        roles |= {f"drift feature {f}": f for f in self.features}
        for role, column in (
            ("score", self.score),
            ("outcome", self.outcome),
            ("version", self.version),
            ("champion's decision", self.champion),
        ):
            if column is not None:
                roles[role] = column
        return roles


@dataclass(frozen=True)
class OutcomeColumns:
    """What an outcome file's columns mean (``--outcomes`` of ``monitor run``)."""

    request_id: str = "request_id"
    outcome: str = "outcome"

    def named(self) -> dict[str, str]:
        return {"request id": self.request_id, "outcome": self.outcome}


@dataclass(frozen=True)
class LogFile:
    path: Path
    reader: str
    sha256: str
    size: int

    @property
    def name(self) -> str:
        return str(self.path)


def find_logs(patterns: Sequence[str]) -> list[LogFile]:
    """Every file the patterns name, once each, in name order, hashed.

    Raises:
        InputError: no pattern was given, or one matches no file.
        DataError: a file is of a format govern does not read.
    """
    if not patterns:
        raise InputError("give the prediction logs with --logs FILE or GLOB")
    found: dict[Path, None] = {}
    for pattern in patterns:
        # glob.glob, not Path.glob: a pattern may be absolute or start with ".."
        matches = sorted(glob.glob(pattern, recursive=True))  # noqa: PTH207
        files = [Path(m) for m in matches if Path(m).is_file()]
        if not files:
            raise InputError(f"--logs {pattern}: no file matches")
        found |= dict.fromkeys(p.resolve() for p in files)
    logs = []
    for path in sorted(found):
        reader = FORMATS.get(path.suffix.lower())
        if reader is None:
            raise DataError(
                f"{path}: not a prediction log govern reads (Parquet, CSV or JSON Lines: "
                f"{', '.join(sorted(FORMATS))})"
            )
        logs.append(LogFile(path, reader, file_sha256(path), path.stat().st_size))
    return logs


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["FORMATS", "LogColumns", "LogFile", "OutcomeColumns", "file_sha256", "find_logs"]
