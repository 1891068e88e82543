"""A refused field in words: in the page's language, or Japanese then English
("保険者番号が… / insurer number …") where no language is given (the CLI, logs).

device.checks says which field is wrong and how (InputProblem, with the limit), and
sync.identifiers how an identifier is wrong (IdentifierProblem, with the digit at fault and the
one expected); the texts are in web/strings_fields.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from device.checks import FieldError, InputProblem
from sync.identifiers import IdentifierError
from web.present import ERAS, STRINGS, text

LANGS = ("ja", "en")  # both at once, Japanese first, where no language is given


def field_name(field: str, lang: str) -> str:
    """The field's name; one without a text shows as its key rather than failing the page."""
    key = "field_" + field
    return text(key, lang) if key in STRINGS else field


def identifier_error_text(error: IdentifierError, lang: str | None = None) -> str:
    """ "保険者番号の検証番号が違います (8桁目: 4 → 5)" in `lang`; both languages when None."""
    return _words(
        "identifier_" + error.problem.value,
        error.field,
        lambda lang: _identifier_values(error, lang),
        lang,
    )


def field_error_text(field: str, error: FieldError, lang: str | None = None) -> str:
    if error.problem is InputProblem.IDENTIFIER and error.identifier is not None:
        return identifier_error_text(error.identifier, lang)
    return _words("input_" + error.problem.value, field, lambda _: {"limit": error.limit}, lang)


def field_errors_text(errors: dict[str, FieldError], lang: str | None = None) -> dict[str, str]:
    """device.checks.InputRejected.errors → field → words, as the desk's JSON carries them."""
    return {field: field_error_text(field, error, lang) for field, error in errors.items()}


def _words(key: str, field: str, values: Callable[[str], dict[str, Any]], lang: str | None) -> str:
    langs = LANGS if lang is None else (lang,)
    said = [text(key, one, field=field_name(field, one), **values(one)) for one in langs]
    return " / ".join(said)


def _identifier_values(error: IdentifierError, lang: str) -> dict[str, Any]:
    """The numbers the texts take, in the words of `lang` where those differ (era, "or")."""
    era = next((e for e in ERAS if e[0] == error.era), None)
    era_name = (era[2] if lang == "en" else era[1]) if era else (error.era or "")
    unit = "{}" if lang == "en" else "{}桁"
    return {
        "position": error.position,
        "expected": error.expected,
        "typed": error.typed,
        "length": error.length,
        "lengths": text("digits_or", lang).join(unit.format(n) for n in error.lengths),
        "year": error.earliest.year if error.earliest else "",
        "era": era_name,
        "start": error.era_start.isoformat() if error.era_start else "",
        "end": error.era_end.isoformat() if error.era_end else text("era_still_running", lang),
    }
