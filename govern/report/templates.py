"""jinja2 templates for the model card (HTML, which WeasyPrint turns into the PDF).

``autoescape=True`` and ``StrictUndefined``: card text is always escaped, and a template that
names a missing field fails loudly instead of printing nothing. A user template directory
(``GOVERN_TEMPLATE_DIR``) comes before the bundled one, so an organisation can replace a
whole template, or extend the bundled one and override only some blocks::

    {# <template_dir>/card.html.j2 #}
    {% extends "govern/card.html.j2" %}
    {% block logo %}<img src="data:image/png;base64,..." alt="ACME">{% endblock %}

``govern/NAME`` always names the bundled template, whatever the user directory holds.
The environment is sandboxed: templates can read the view but cannot call into Python.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)
from jinja2.sandbox import SandboxedEnvironment

from govern import formatting
from govern.errors import ConfigError, InputError
from govern.locations import report_templates_dir
from govern.report.decisions import short_key
from govern.report.view import COUNT_METRICS

CARD_TEMPLATE = "card.html.j2"
BUNDLED_PREFIX = "govern"


def make_environment(user_dir: Path | None = None) -> SandboxedEnvironment:
    """The template environment: user directory (if any), then the bundled templates."""
    bundled = report_templates_dir()
    loaders: list[Any] = [PrefixLoader({BUNDLED_PREFIX: FileSystemLoader(bundled)})]
    if user_dir is not None:
        if not user_dir.is_dir():
            raise ConfigError(
                f"template directory {user_dir} does not exist or is not a directory "
                "(GOVERN_TEMPLATE_DIR)"
            )
        loaders.append(FileSystemLoader(user_dir))
    loaders.append(FileSystemLoader(bundled))
    env = SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        num=formatting.number,
        compact=formatting.compact,
        pct=formatting.percent,
        interval=format_interval,
        pvalue=formatting.p_value,
        count=formatting.count,
        group=formatting.group,
        grouping=formatting.grouping,
        short_hash=formatting.short_hash,
        short_key=short_key,
        when=formatting.when,
        day=formatting.day,
        label=label,
        size=formatting.size,
        metric=format_metric,
    )
    return env


def render_template(
    env: SandboxedEnvironment,
    name: str,
    context: dict[str, Any],
    *,
    user_dir: Path | None = None,
) -> str:
    """Render ``name``; template problems become one line naming the file and line.

    Errors raised by template code in ``user_dir`` (a division by zero, adding a number to
    a string, a template that extends itself...) are the template author's input errors;
    the same errors from the bundled templates are govern's bugs and propagate.
    """
    try:
        return env.get_template(name).render(**context)
    except TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise InputError(f"{where}:{exc.lineno}: template syntax error: {exc.message}") from None
    except TemplateNotFound as exc:
        raise InputError(f"report template not found: {exc.name}") from None
    except TemplateError as exc:
        where = _template_position(exc.__traceback__) or name
        raise InputError(f"{where}: template error: {exc.message or exc}") from None
    except UnicodeDecodeError as exc:
        where = _loaded_file(exc.__traceback__) or name
        raise InputError(f"{where}: a template must be UTF-8 text") from None
    except RecursionError:
        if user_dir is None:
            raise
        raise InputError(
            f"{user_dir / name}: templates extend or include each other without end (to "
            f'extend the bundled template, write {{% extends "{BUNDLED_PREFIX}/{name}" %}})'
        ) from None
    except Exception as exc:
        position = _template_position(exc.__traceback__)
        if user_dir is None or position is None or not position.startswith(str(user_dir)):
            raise
        raise InputError(f"{position}: template error: {type(exc).__name__}: {exc}") from None


def _loaded_file(tb: TracebackType | None) -> str | None:
    """The file a template loader was reading when decoding failed."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_locals.get("filename")
        if isinstance(filename, str):
            found = filename
        tb = tb.tb_next
    return found


def _template_position(tb: TracebackType | None) -> str | None:
    """The innermost template frame (file:line) of a rendering error's traceback.

    jinja rewrites tracebacks so template code appears as frames whose file is the
    template and whose line is the template's line.
    """
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith((".j2", ".html", ".css", ".md")):
            found = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


# --- filters ------------------------------------------------------------------------------
# Each filter is a function of govern.formatting, or a thin adapter onto one, so the card
# writes a figure exactly as the CLI, the TUI and the exports do.


def format_metric(value: Any, name: str, digits: int = 3) -> str:
    """A metric by its name: counts as whole numbers (``300``), rates with ``digits``."""
    if str(name).lower() in COUNT_METRICS and isinstance(value, float) and value.is_integer():
        return formatting.count(value)
    return formatting.number(value, digits)


def format_interval(estimate: Any, digits: int = 2) -> str:
    """``[0.41, 0.58]`` for an estimate with a Wilson interval, else empty."""
    return formatting.interval(
        getattr(estimate, "lower", None), getattr(estimate, "upper", None), digits
    )


def label(value: Any) -> str:
    """``changes_requested`` -> ``changes requested``; ``selection_rate`` -> ``selection rate``."""
    return str(value).replace("_", " ")


__all__ = ["CARD_TEMPLATE", "make_environment", "render_template"]
