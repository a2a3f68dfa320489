"""What every govern screen shares: the backend, and service calls that cannot crash the app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from textual.screen import Screen

from govern.errors import GovernError, RefusedError
from govern.tui.messages import ActionRefused, WorkFailed

if TYPE_CHECKING:
    from textual.app import SystemCommand

    from govern.tui.backend import Backend

T = TypeVar("T")


class Console(Protocol):
    """What screens use of the app (``govern.tui.app.GovernApp``), named here so that the
    screens need not import the app that imports them."""

    backend: Backend
    role: str | None

    def mark(self, milestone: str) -> None: ...

    def signed(self, then: Callable[[], object], *, doing: str) -> None: ...

    def open_version(self, ref: str, *, tab: str | None = None) -> None: ...

    def open_compare(self, champion: str, challenger: str) -> None: ...

    def show_error(self, title: str, message: str) -> None: ...


class GovernScreen(Screen[None]):
    """A screen that talks to govern only through ``self.backend``, from workers."""

    @property
    def govern(self) -> Console:
        return cast("Console", self.app)

    @property
    def backend(self) -> Backend:
        return self.govern.backend

    def palette_commands(self) -> Iterator[SystemCommand]:
        """Commands of this screen for the palette beyond its key bindings (none here)."""
        yield from ()

    def guarded(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Run a blocking service call; on failure tell the user and return None.

        Refusals (roles, separation of duties, lifecycle, gates) and govern errors arrive
        as their own message; anything else is an internal error shown with a request to
        report it. Meant for thread workers: posting a message is thread-safe.
        """
        try:
            return call(*args, **kwargs)
        except RefusedError as refusal:
            self.post_message(ActionRefused(refusal.title, refusal.message))
        except GovernError as error:
            self.post_message(WorkFailed(error.title, error.message))
        except Exception as error:  # a bug must not take the whole console down
            self.post_message(internal_error(error))
        return None


def internal_error(error: Exception) -> WorkFailed:
    """What the user sees of a bug: its one-line description and a request to report it."""
    return WorkFailed(
        "Internal error",
        f"{type(error).__name__}: {error}\n\nThis is a bug in govern; please report it "
        "with what you were doing.",
    )
