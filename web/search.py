"""The desk's one search box: a kana name (whole, or the surname or given name alone), a birth
date, an insurer number alone or insurance numbers, told apart by shape; what it cannot read
it says, naming the part it could not read.

Everything is looked up through the store's keyed hashes (blind indexes), so the text typed
never reaches SQL, and the audit records only which kind of search it was.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sync.identifiers import IdentifierError, validate_birthdate, validate_insurer_number
from sync.store import Confirmation, Store

SEARCH_LIMIT = 50
MAX_QUERY = 100
KINDS = ("kana", "birthdate", "insurer", "numbers")
_HIRAGANA = range(0x3041, 0x3097)  # ぁ … ゖ; katakana is 0x60 above
_KATAKANA = re.compile(r"[\u30a1-\u30fa\u30fc\u30fb]+")  # ァ…ヺ, ー and ・ (foreign names)
_NUMBER_SEPARATORS = re.compile(r"[\s・\-‐‑–—−]+")
# Kanji (CJK ideographs and 々): names are indexed by their kana only.
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々]")


class QueryError(ValueError):
    """A query of no kind; `key` names the present.STRINGS text to show, `part` the part typed
    that could not be read (for that text's {part}), `identifier` (when given) what was wrong
    with it as an identifier (put in words in the page's language)."""

    def __init__(self, key: str, identifier: IdentifierError | None = None, part: str = "") -> None:
        super().__init__(key)
        self.key = key
        self.identifier = identifier
        self.part = part


@dataclass(frozen=True)
class SearchQuery:
    kind: str  # one of KINDS
    kana: str = ""  # full-width katakana, no spaces
    birthdate: str = ""  # YYYYMMDD
    insurer_number: str = ""
    symbol: str = ""
    number: str = ""


def to_katakana(s: str) -> str:
    """Half-width katakana → full width (NFKC), hiragana → katakana, spaces removed."""
    folded = unicodedata.normalize("NFKC", s)
    chars = (chr(ord(c) + 0x60) if ord(c) in _HIRAGANA else c for c in folded)
    return "".join("".join(chars).split())


def parse_query(q: str) -> SearchQuery:
    text = q.strip()[:MAX_QUERY]
    if not text:
        raise QueryError("desk_search_unknown")
    kana = to_katakana(text)
    if _KATAKANA.fullmatch(kana) and kana.strip("・"):
        return SearchQuery("kana", kana=kana)  # the whole name, or the surname or given alone
    try:  # before the kanji check: 昭和54年2月14日 is a date
        return SearchQuery("birthdate", birthdate=validate_birthdate(text))
    except IdentifierError as exc:
        birthdate_error = exc
    if _KANJI.search(text) and not any(c.isdigit() for c in unicodedata.normalize("NFKC", text)):
        raise QueryError("desk_search_kanji")
    parts = [p for p in _NUMBER_SEPARATORS.split(unicodedata.normalize("NFKC", text)) if p]
    if len(parts) < 2:
        word = parts[0] if parts else text
        if word.isascii() and word.isdigit() and len(word) in (6, 8):
            try:  # an insurer number alone
                return SearchQuery("insurer", insurer_number=validate_insurer_number(word))
            except IdentifierError as exc:
                raise QueryError("desk_search_not_understood", exc, part=word) from None
        # One word of no kind: a mistyped date most likely when it has digits: say what is
        # wrong with it as a date.
        looks_like_date = any(c.isdigit() for c in text)
        raise QueryError(
            "desk_search_not_understood", birthdate_error if looks_like_date else None, part=word
        )
    if len(parts) > 4:  # insurer, symbol, number and a branch at most
        raise QueryError("desk_search_numbers_short")
    try:
        insurer = validate_insurer_number(parts[0])
    except IdentifierError as exc:
        raise QueryError("desk_search_not_understood", exc, part=parts[0]) from None
    if len(parts) == 2:
        symbol, number = "", parts[1]
    else:
        symbol, number = parts[1], parts[2]  # a fourth part is the branch: not in the key
    return SearchQuery("numbers", insurer_number=insurer, symbol=symbol, number=number)


def find(store: Store, query: SearchQuery, limit: int = SEARCH_LIMIT) -> list[Confirmation]:
    """Newest first, today's and older ones alike."""
    if query.kind == "kana":
        return store.find_by_kana(query.kana, limit)
    if query.kind == "birthdate":
        return store.find_by_birthdate(query.birthdate, limit)
    if query.kind == "insurer":
        return store.find_by_insurer(query.insurer_number, limit)
    return store.find_by_numbers(query.insurer_number, query.symbol, query.number, limit)
