"""Modal dialogs: an error or refusal to read, small forms (a comment, a waiver, a path), and
the personal key's passphrase, asked once per session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.console import RenderableType
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from govern.errors import GovernError
from govern.tui.messages import KeyUnlocked, UnlockFailed


class MessageModal(ModalScreen[None]):
    """A title and a message to read; Enter or Escape closes it.

    Used for refusals (separation of duties, roles, lifecycle) and errors, so the user reads
    exactly what the service said.
    """

    DEFAULT_CSS = """
    MessageModal {
        align: center middle;
        & > Vertical {
            width: 72;
            max-width: 95%;
            height: auto;
            max-height: 90%;
            border: thick $error 70%;
            background: $panel;
            padding: 1 2;
        }
        &.-info > Vertical { border: thick $primary 70%; }
        &.-wide > Vertical { width: 110; }
        & .modal-title { text-style: bold; color: $text-error; margin-bottom: 1; }
        &.-info .modal-title { color: $text-primary; }
        & VerticalScroll { height: auto; max-height: 65vh; }
        & .modal-hint { color: $text-muted; margin-top: 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
    ]

    def __init__(
        self,
        title: str,
        message: str,
        *,
        error: bool = True,
        wide: bool = False,
        body: RenderableType | None = None,
    ) -> None:
        super().__init__(
            classes=" ".join(c for c in ("" if error else "-info", "-wide" if wide else "") if c)
        )
        self.title_text = title
        self.message = message
        #: A table or other rich renderable shown instead of the plain message.
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content(self.title_text), classes="modal-title")
            with VerticalScroll():
                shown = self.body if self.body is not None else Content(self.message)
                yield Static(shown, id="modal-message")
            yield Label("Enter or Escape to close", classes="modal-hint")

    def action_close(self) -> None:
        self.dismiss(None)


def form_css(name: str) -> str:
    """The look of a small form in a box (a dialog class's ``DEFAULT_CSS``)."""
    return (
        name
        + """ {
        align: center middle;
        & > Vertical {
            width: 76;
            max-width: 95%;
            height: auto;
            max-height: 95%;
            border: thick $primary 70%;
            background: $panel;
            padding: 1 2;
        }
        & .form-title { text-style: bold; color: $text-primary; }
        & .form-note { color: $text-muted; }
        & .form-label { margin-top: 1; }
        & Input { background: $surface; }
        & Input:focus { background: $surface-lighten-1; }
        & .form-error { color: $text-error; height: auto; margin-top: 1; display: none; }
        & .form-error.-shown { display: block; }
        & .form-status { color: $text-muted; height: auto; margin-top: 1; display: none; }
        & .form-status.-shown { display: block; }
        & Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
        & Button { margin-left: 2; }
    }
    """
    )


@dataclass(frozen=True)
class FormField:
    """One line of a form."""

    name: str
    label: str
    placeholder: str = ""
    value: str = ""
    required: bool = False


class FormDialog(ModalScreen[dict[str, str] | None]):
    """A few labelled inputs; returns their values, or None when cancelled.

    Enter in the last field (or the OK button) submits; Escape cancels. Required fields
    are checked here so the dialog can say which one is missing before anything runs.
    """

    DEFAULT_CSS = form_css("FormDialog")

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, title: str, fields: list[FormField], *, note: str = "", submit: str = "OK"
    ) -> None:
        super().__init__()
        self.form_title = title
        self.fields = fields
        self.note = note
        self.submit_label = submit

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self.form_title), classes="form-title")
            if self.note:
                yield Static(Content(self.note), classes="form-note")
            for field in self.fields:
                yield Label(Content(field.label), classes="form-label")
                yield Input(
                    value=field.value,
                    placeholder=field.placeholder,
                    id=f"field-{field.name}",
                    compact=True,
                )
            yield Static("", classes="form-error", id="form-error")
            with Horizontal():
                yield Button("Cancel (Esc)", id="cancel", compact=True)
                yield Button(self.submit_label, id="submit", variant="primary", compact=True)

    def values(self) -> dict[str, str]:
        return {f.name: self.query_one(f"#field-{f.name}", Input).value for f in self.fields}

    @on(Input.Submitted)
    def _next_or_submit(self, event: Input.Submitted) -> None:
        names = [f"field-{f.name}" for f in self.fields]
        position = names.index(event.input.id or "")
        if position < len(names) - 1:
            self.query_one(f"#{names[position + 1]}", Input).focus()
        else:
            self._submit()

    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        values = self.values()
        missing = [f.label for f in self.fields if f.required and not values[f.name].strip()]
        if missing:
            error = self.query_one("#form-error", Static)
            error.update(Content(f"Required: {', '.join(missing)}"))
            error.add_class("-shown")
            return
        self.dismiss(values)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class PassphraseModal(ModalScreen[bool]):
    """The personal key's passphrase, asked before the session's first signed action.

    ``unlock`` (the backend's) runs in a thread worker: the key derivation takes a moment and
    the console must stay responsive. A wrong passphrase is said here, the box is cleared and
    the person tries again; nothing has run yet. Returns True once unlocked, False when the
    person cancels (the action does not run). The passphrase is never shown or stored here.
    """

    DEFAULT_CSS = form_css("PassphraseModal")

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, unlock: Callable[[str], None], *, actor: str, key: str | None, doing: str
    ) -> None:
        super().__init__()
        self.unlock_key = unlock
        self.actor = actor
        self.key = key
        self.doing = doing
        #: Wrong passphrases given so far (shown, so a second failure reads as new).
        self.attempts = 0

    def compose(self) -> ComposeResult:
        key = f"key {self.key}" if self.key else "personal key"
        with Vertical():
            yield Static("Unlock your signing key", classes="form-title")
            yield Static(
                Content(
                    f"To {self.doing}, {self.actor}'s {key} signs the action. Give its "
                    "passphrase once: the key stays unlocked, in memory only, until you quit."
                ),
                classes="form-note",
            )
            yield Label("Passphrase", classes="form-label")
            yield Input(
                password=True,
                placeholder="not shown as you type",
                id="passphrase",
                compact=True,
            )
            yield Static("", classes="form-error", id="unlock-error")
            yield Static("Unlocking the key…", classes="form-status", id="unlock-status")
            with Horizontal():
                yield Button("Cancel (Esc)", id="cancel", compact=True)
                yield Button("Unlock", id="unlock", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#passphrase", Input).focus()

    @on(Input.Submitted, "#passphrase")
    @on(Button.Pressed, "#unlock")
    def _submit(self) -> None:
        box = self.query_one("#passphrase", Input)
        if box.disabled:  # already unlocking
            return
        if not box.value:
            self._error("Type the passphrase of your key (Escape cancels).")
            return
        self._busy(True)
        self.try_unlock(box.value)

    @work(thread=True, exclusive=True, group="unlock")
    def try_unlock(self, passphrase: str) -> None:
        try:
            self.unlock_key(passphrase)
        except GovernError as error:
            self.post_message(UnlockFailed(error.message))
        except Exception as error:  # a bug must not take the console down
            self.post_message(UnlockFailed(f"{type(error).__name__}: {error}"))
        else:
            self.post_message(KeyUnlocked())

    def on_key_unlocked(self, message: KeyUnlocked) -> None:
        message.stop()
        self.dismiss(True)

    def on_unlock_failed(self, message: UnlockFailed) -> None:
        message.stop()
        self.attempts += 1
        self._busy(False)
        box = self.query_one("#passphrase", Input)
        box.value = ""
        box.focus()
        again = f" (attempt {self.attempts})" if self.attempts > 1 else ""
        if "wrong passphrase" in message.message.lower():
            text = f"Wrong passphrase{again}: the key is still locked and nothing was done."
        else:
            text = f"The key could not be unlocked{again}: {message.message}"
        self._error(text + " Try again, or press Escape to cancel.")

    def _busy(self, busy: bool) -> None:
        self.query_one("#passphrase", Input).disabled = busy
        self.query_one("#unlock", Button).disabled = busy
        self.query_one("#unlock-status").set_class(busy, "-shown")
        if busy:
            self.query_one("#unlock-error").remove_class("-shown")

    def _error(self, text: str) -> None:
        error = self.query_one("#unlock-error", Static)
        error.update(Content(text))
        error.add_class("-shown")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
