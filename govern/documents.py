"""Reading the YAML files users give us (cards, policies) strictly and with positions.

Every problem becomes a :class:`~govern.errors.Problem` naming the file, line and column,
so ``govern register`` and ``govern policy validate`` can point at the exact spot. The
reader refuses what a hostile or broken file could use against us: binary content, huge
files, non-UTF-8 bytes, anchors and aliases (the "billion laughs"), Python tags, duplicate
keys, several documents in one file and absurd nesting.
"""

from __future__ import annotations

import math
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from govern.errors import InputError, Problem

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

_MAX_DEPTH = 64


@dataclass
class YamlDocument:
    """Plain Python data plus the position of every value and key in the source."""

    where: str
    data: Any
    value_at: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_at: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of ``path``, or of its nearest ancestor that exists."""
        probe = tuple(path)
        table = self.key_at if key else self.value_at
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.value_at:
                return self.value_at[probe]
            probe = probe[:-1]
        return self.value_at.get((), (1, 1))


def read_text(path: Path, *, kind: str, max_bytes: int, error: type[InputError]) -> str:
    """Read a user's text file, refusing missing, empty, binary, huge and non-UTF-8 files."""
    where = str(path)
    try:
        if path.is_dir():
            raise error(f"{where}: is a directory, expected a {kind} file")
        info = path.stat()
    except FileNotFoundError:
        raise error(f"{where}: no such {kind} file") from None
    except OSError as exc:
        raise error(f"{where}: cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        # /dev/zero or a named pipe would never end (or never start): refuse, don't read.
        raise error(f"{where}: is not a regular file, expected a {kind} file")
    limit = f"over the {max_bytes / 1e6:g} MB limit for {kind} files"
    if info.st_size > max_bytes:
        raise error(f"{where}: file is {info.st_size / 1e6:.1f} MB, {limit}")
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise error(f"{where}: cannot read: {exc.strerror}") from None
    if len(raw) > max_bytes:
        raise error(f"{where}: file is {limit}")
    if b"\x00" in raw:
        raise error(f"{where}: is a binary file, not a {kind} in YAML")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(
            f"{where}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    if not text.strip():
        raise error(f"{where}: file is empty, expected a {kind}")
    return text


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases; everything else is checked while walking nodes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(
                problem="anchors and aliases are not allowed", problem_mark=event.start_mark
            )
        return super().compose_node(parent, index)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def parse_yaml(text: str, *, where: str, error: type[InputError]) -> YamlDocument:
    """Parse one YAML document into plain data with positions; raise ``error`` on any problem."""
    loader = _StrictLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            message = exc.problem or str(exc)
            if exc.context and "single document" in exc.context:
                message = "expected one YAML document, found several"
            raise error.from_problems(
                [Problem(where, f"YAML syntax error: {message}", line, column)]
            ) from None
        except yaml.YAMLError as exc:
            raise error.from_problems([Problem(where, f"YAML error: {exc}")]) from None
        except RecursionError:
            # The reader stops where the composer gave up, which is inside the deep part.
            mark = loader.get_mark()
            raise error.from_problems(
                [Problem(where, "YAML nesting is too deep", mark.line + 1, mark.column + 1)]
            ) from None
        if root is None:
            raise error(f"{where}: file is empty, expected a YAML document")
        document = YamlDocument(where=where, data=None)
        problems: list[Problem] = []
        document.data = _walk(loader, root, (), document, problems)
        if problems:
            raise error.from_problems(problems)
        return document
    finally:
        loader.dispose()


def _walk(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: Path_,
    document: YamlDocument,
    problems: list[Problem],
) -> Any:
    document.value_at[path] = _pos(node)
    if len(path) > _MAX_DEPTH:
        problems.append(Problem(document.where, "nesting is too deep", *_pos(node)))
        return None
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
        # SafeLoader only constructs scalars for us; a tag on a collection (e.g.
        # !!python/object/apply:os.system [...]) would otherwise be silently dropped.
        problems.append(
            Problem(document.where, f"unsupported YAML tag {_short_tag(node.tag)}", *_pos(node))
        )
        return None
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(
                    Problem(document.where, "mapping keys must be plain text", *_pos(key_node))
                )
                continue
            key = _scalar(loader, key_node, document, problems)
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                problems.append(
                    Problem(
                        document.where,
                        f"duplicate key {key!r}",
                        *_pos(key_node),
                        key=_dotted((*path, key)),
                    )
                )
                continue
            document.key_at[(*path, key)] = _pos(key_node)
            result[key] = _walk(loader, value_node, (*path, key), document, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _walk(loader, item, (*path, index), document, problems)
            for index, item in enumerate(node.value)
        ]
    return _scalar(loader, node, document, problems)


_YAML_TAG_PREFIX = "tag:yaml.org,2002:"
_PLAIN_TAGS = frozenset({_YAML_TAG_PREFIX + "map", _YAML_TAG_PREFIX + "seq"})


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML_TAG_PREFIX) if tag.startswith(_YAML_TAG_PREFIX) else tag


#: The largest integer a document may hold: nothing govern stores needs more than 64 bits,
#: and a 5,000-digit number would otherwise fail deep inside (str(), JSON, numpy, SQL).
MAX_INTEGER = 2**63 - 1


def _scalar(
    loader: yaml.SafeLoader, node: yaml.Node, document: YamlDocument, problems: list[Problem]
) -> Any:
    try:
        value = loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        problems.append(
            Problem(document.where, f"unsupported YAML value: {exc.problem}", *_pos(node))
        )
        return None
    except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
        problems.append(Problem(document.where, _TOO_LARGE, *_pos(node)))
        return None
    problem = number_problem(value)
    if problem:
        problems.append(Problem(document.where, problem, *_pos(node)))
        return None
    return value


_TOO_LARGE = f"number is too large (at most {MAX_INTEGER:,} in magnitude)"


def number_problem(value: Any) -> str:
    """Why ``value`` is not a number a document may hold (huge, NaN, infinite), or ""."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int) and abs(value) > MAX_INTEGER:
        return _TOO_LARGE
    if isinstance(value, float) and not math.isfinite(value):
        return "numbers must be finite (.nan, .inf and numbers too large for a float are refused)"
    return ""


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "missing": lambda err: "required field is missing",
    "extra_forbidden": lambda err: "unknown field",
}


def validate(
    model: type[M],
    document: YamlDocument,
    *,
    error: type[InputError],
    root_name: str = "document",
) -> M:
    """Validate ``document`` against a pydantic model, reporting every problem with positions."""
    if not isinstance(document.data, dict):
        got = type(document.data).__name__
        raise error.from_problems(
            [
                Problem(
                    document.where,
                    f"expected a mapping at the top of the {root_name}, got {got}",
                    *document.position(()),
                )
            ]
        )
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        raise error.from_problems(problems_from(exc, document)) from None


def problems_from(exc: ValidationError, document: YamlDocument) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(part for part in err["loc"] if isinstance(part, str | int))
        kind = err["type"]
        describe = _MESSAGES.get(kind)
        message = describe(dict(err)) if describe else str(err["msg"])
        # pydantic prefixes our validators' messages with the exception's kind
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if kind in {"missing"}:
            line, column = document.position(loc[:-1])
        else:
            line, column = document.position(loc, key=kind == "extra_forbidden")
        problems.append(Problem(document.where, message, line, column, key=_dotted(loc)))
    problems.sort(key=lambda p: (p.line, p.column))
    return problems


def load_model_file(
    path: Path,
    model: type[M],
    *,
    kind: str,
    max_bytes: int,
    error: type[InputError],
) -> tuple[M, YamlDocument]:
    """Read, parse and validate a YAML file in one go."""
    text = read_text(path, kind=kind, max_bytes=max_bytes, error=error)
    document = parse_yaml(text, where=str(path), error=error)
    return validate(model, document, error=error, root_name=kind), document
