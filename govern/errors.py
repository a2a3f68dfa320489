"""One error family for all of govern.

Core code raises these; only the front ends decide how to show them. The CLI prints
``message`` as one line on stderr and exits with ``exit_code``; the TUI shows ``title``
and ``message`` in a modal or a notification.

Exit codes (docs/architecture.md §7): 0 success, 1 a finding, 2 usage/input/configuration
error with nothing written, 3 internal error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

EXIT_OK = 0
EXIT_FINDING = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a file a user gave us.

    ``where`` is the file name, ``line``/``column`` are 1-based (0 when unknown) and
    ``key`` is the dotted path of the offending field, if any.
    """

    where: str
    message: str
    line: int = 0
    column: int = 0
    key: str = ""

    def __str__(self) -> str:
        place = self.where
        if self.line:
            place += f":{self.line}"
            if self.column:
                place += f":{self.column}"
        field = f" {self.key}:" if self.key else ""
        return f"{place}:{field} {self.message}"


class GovernError(Exception):
    """Base of every error govern reports to a user."""

    title = "Error"
    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class ConfigError(GovernError):
    """Settings, key files or environment are unusable."""

    title = "Configuration error"


class CatalogueError(GovernError):
    """The catalogue is missing, unreachable or at the wrong schema revision."""

    title = "Catalogue error"


class NotFoundError(GovernError):
    """A model, version, evaluation or user does not exist."""

    title = "Not found"


class ConflictError(GovernError):
    """The thing already exists (e.g. registering a NAME@VERSION twice)."""

    title = "Already exists"


class InputError(GovernError):
    """A file or argument given by the user is unusable.

    Carries every :class:`Problem` found so a front end can list them all.
    """

    title = "Invalid input"

    def __init__(
        self, message: str, *, problems: Sequence[Problem] = (), title: str | None = None
    ) -> None:
        super().__init__(message, title=title)
        self.problems = tuple(problems)

    @classmethod
    def from_problems(cls, problems: Sequence[Problem]) -> InputError:
        first = str(problems[0])
        more = len(problems) - 1
        message = first if more == 0 else f"{first} (and {more} more problem{'s' * (more > 1)})"
        return cls(message, problems=problems)


class CardError(InputError):
    """A model card file is malformed."""

    title = "Invalid model card"


class PolicyError(InputError):
    """A policy file is malformed."""

    title = "Invalid policy"


class DataError(InputError):
    """A data set, prediction column or model artifact is unusable."""

    title = "Invalid data"


class RefusedError(GovernError):
    """An operation was refused by a rule (roles, separation of duties, lifecycle).

    Refusals are themselves recorded in the audit log by the service layer.
    """

    title = "Refused"


class PermissionDenied(RefusedError):
    """The acting user lacks the role the operation needs."""

    title = "Permission denied"


class WorkflowError(RefusedError):
    """A lifecycle transition is not allowed."""

    title = "Not allowed"


class SignatureError(GovernError):
    """Keys, certificates or signatures cannot be used."""

    title = "Signature error"


class FindingError(GovernError):
    """A check ran and found a problem (exit 1), e.g. a failed audit verification."""

    title = "Finding"
    exit_code = EXIT_FINDING


class InternalError(GovernError):
    """A bug in govern; the message asks for a report."""

    title = "Internal error"
    exit_code = EXIT_INTERNAL
