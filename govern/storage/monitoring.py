"""A version's monitoring record: its days' counts and the log files counted into them."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from govern.storage.tables import Model, ModelVersion, MonitoringDay, MonitoringFile


def days(*, session: Session, version_id: int) -> dict[dt.date, MonitoringDay]:
    """The version's days, oldest first."""
    rows = session.exec(
        select(MonitoringDay)
        .where(MonitoringDay.version_id == version_id)
        .order_by(col(MonitoringDay.day))
    ).all()
    return {row.day: row for row in rows}


def files(*, session: Session, version_id: int) -> list[MonitoringFile]:
    """The log files counted for the version, in the order they were counted."""
    return list(
        session.exec(
            select(MonitoringFile)
            .where(MonitoringFile.version_id == version_id)
            .order_by(col(MonitoringFile.id))
        ).all()
    )


def file_counted(*, session: Session, version_id: int, sha256: str) -> bool:
    found = session.exec(
        select(MonitoringFile.id).where(
            MonitoringFile.version_id == version_id, MonitoringFile.sha256 == sha256
        )
    ).first()
    return found is not None


def features(*, session: Session, version_id: int) -> list[str] | None:
    """The sensitive features the version's record counts; ``None`` before its first run."""
    row = session.exec(
        select(MonitoringDay).where(MonitoringDay.version_id == version_id).limit(1)
    ).first()
    return None if row is None else list(row.features)


def paired_days(*, session: Session, version_id: int) -> int:
    """How many of the version's days were counted beside a champion's decisions."""
    return sum(
        1
        for row in days(session=session, version_id=version_id).values()
        if row.counts.get("paired")
    )


def version_names(*, session: Session, model: Model) -> set[str]:
    """Every version of ``model`` in the catalogue, as log rows name them."""
    return set(
        session.exec(select(ModelVersion.version).where(ModelVersion.model_id == model.id)).all()
    )


__all__ = ["days", "features", "file_counted", "files", "paired_days", "version_names"]
