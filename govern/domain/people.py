"""User names that cannot be confused with one another (docs/architecture.md §5).

Two names are the same user when they are equal after NFKC normalisation and case folding
(``Alice``, ``alice`` and the full-width ``ａｌｉｃｅ`` are one name), and a name whose letters
come from more than one script (a Latin ``a`` beside a Cyrillic ``а``) is refused: it exists
only to look like someone else.

Scripts are read from the Unicode character names (``LATIN SMALL LETTER A``, ``CYRILLIC SMALL
LETTER A``) in the standard library: the one question asked here does not justify a
dependency on a script-property library.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_CHARS = 100
_PUNCTUATION = frozenset("._-")
#: Japanese writes one name in three scripts; these mixes are ordinary, not confusable.
_COMPATIBLE = (frozenset({"CJK", "HIRAGANA", "KATAKANA"}), frozenset({"CJK", "HANGUL"}))


def name_key(name: str) -> str:
    """The form under which names are compared and kept unique (NFKC, then case folded)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def _script(char: str) -> str:
    label = unicodedata.name(char, "")
    first = label.split(" ", 1)[0]
    # "CJK UNIFIED IDEOGRAPH-4E00" already reads CJK; "IDEOGRAPHIC ITERATION MARK" is CJK too.
    return "CJK" if first == "IDEOGRAPHIC" else first


def scripts(name: str) -> set[str]:
    """The scripts of the letters in ``name`` (digits and punctuation belong to none)."""
    return {_script(char) for char in name if char.isalpha()}


def check_user_name(raw: str) -> str:
    """``raw`` stripped and NFKC-normalised, or ValueError saying what is wrong with it."""
    name = unicodedata.normalize("NFKC", raw.strip())
    if not name:
        raise ValueError("a user name cannot be empty")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a user name is at most {MAX_NAME_CHARS} characters long")
    if not name[0].isalnum() or not name[-1].isalnum():
        raise ValueError(f"{raw!r} must start and end with a letter or a digit")
    odd = sorted({c for c in name if not (c.isalnum() or c in _PUNCTUATION)})
    if odd:
        raise ValueError(f"{raw!r} contains {''.join(odd)!r}; use letters, digits, '.', '_' or '-'")
    found = scripts(name)
    if len(found) > 1 and not any(found <= allowed for allowed in _COMPATIBLE):
        raise ValueError(
            f"{raw!r} mixes scripts ({', '.join(sorted(s.title() for s in found))}); a name "
            "written in one script cannot be mistaken for another person's"
        )
    return name


__all__ = ["MAX_NAME_CHARS", "check_user_name", "name_key", "scripts"]
