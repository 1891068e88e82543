"""What a list row shows of an answer, kept beside it so lists never parse the answer's XML.

An answer (QualificationResult) is parsed once, where it is received (device/confirm.py), and
the store keeps, beside the encrypted XML, this compact summary (encrypted too, bound to its
row): the header fields, the search echo and the qualifications without the address and
postcode, which no list shows (an answer has one qualification, rarely a few: all are kept,
so a verdict read from the summary is the answer's). `summary_of` reads it back as a
QualificationResult, so a row is formatted by the same code from either.

The encoding is JSON of the non-default fields, deflated with the answers' dictionary
(sync/packing.py): a few hundred bytes.
"""

from __future__ import annotations

import functools
import json
from dataclasses import MISSING, fields
from typing import Any, TypeVar

from sync.packing import pack, unpack
from sync.xmlmsg import (
    ConsentState,
    ElderlyInfo,
    LimitInfo,
    MedicalTicket,
    PublicExpense,
    Qualification,
    QualificationResult,
    SearchInfo,
)

VERSION = 1
# Fields of the first qualification no list shows (the detail page reads the whole answer).
_LEFT_OUT = frozenset({"address", "post_number"})
_HEADER = tuple(f.name for f in fields(QualificationResult) if f.name not in ("search", "results"))


def summarize(result: QualificationResult) -> bytes:
    """The summary of a parsed answer, as stored (before encryption)."""
    doc: dict[str, Any] = {"v": VERSION}
    doc["h"] = {name: getattr(result, name) for name in _HEADER if getattr(result, name)}
    if result.search is not None:
        doc["s"] = _plain(result.search)
    if result.results:
        doc["q"] = [_plain(q) for q in result.results]
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return pack(text.encode())


def summary_of(data: bytes) -> QualificationResult:
    """The answer as far as the summary holds it."""
    doc = json.loads(unpack(data).decode())  # as str: json.loads skips guessing the encoding
    if doc.get("v") != VERSION:
        raise ValueError(f"unknown row summary version {doc.get('v')!r}")
    header: dict[str, str] = doc.get("h", {})
    search = doc.get("s")
    found: list[dict[str, Any]] = doc.get("q", [])
    return _made(
        QualificationResult,
        _RESULT_DEFAULTS,
        header,
        search=_made(SearchInfo, _SEARCH_DEFAULTS, search) if search is not None else None,
        results=tuple(_qualification(q) for q in found),
    )


# Summaries a SummaryReader keeps decoded: the busiest day's desk rows twice over.
SUMMARY_MEMO = 1024


class SummaryReader:
    """`summary_of` for a store's reads, keeping the latest SUMMARY_MEMO summaries decoded:
    the desk lists today's rows on every load, and the summary of an answer never changes.

    Keyed by the decrypted summary itself (the ciphertext is decrypted, and its binding to
    its row checked, on every read as before), so a key can only ever give its own decoding;
    the values are frozen dataclasses, shared safely between threads. It holds what the
    desk's pages hold anyway, decrypted in memory, bounded (least recently used go first).
    """

    def __init__(self, size: int = SUMMARY_MEMO) -> None:
        self._read = functools.lru_cache(maxsize=size)(summary_of)

    def __call__(self, data: bytes) -> QualificationResult:
        return self._read(data)

    def clear(self) -> None:
        self._read.cache_clear()


_T = TypeVar("_T")


def _defaults(cls: type[Any]) -> dict[str, Any]:
    """Each field's value when the summary leaves it out: its default; "" for the header's
    fields without one (the summary keeps only non-empty header fields)."""
    return {f.name: "" if f.default is MISSING else f.default for f in fields(cls)}


def _made(cls: type[_T], defaults: dict[str, Any], values: dict[str, Any], **more: Any) -> _T:
    """A (frozen) dataclass of the summary's values, its other fields at their defaults,
    without running its generated __init__: a list decodes hundreds of these, and the
    __init__'s field-by-field frozen assignments were most of the decode. A name that is not
    a field is refused, as __init__ would."""
    unknown = values.keys() - defaults.keys()
    if unknown:
        raise ValueError(f"row summary has unknown fields {sorted(unknown)} for {cls.__name__}")
    made = object.__new__(cls)
    attributes = made.__dict__
    attributes.update(defaults)
    attributes.update(values)
    attributes.update(more)
    return made


_RESULT_DEFAULTS = _defaults(QualificationResult)
_SEARCH_DEFAULTS = _defaults(SearchInfo)
_QUALIFICATION_DEFAULTS = _defaults(Qualification)
_CONSENT_DEFAULTS = _defaults(ConsentState)
_ELDERLY_DEFAULTS = _defaults(ElderlyInfo)
_LIMIT_DEFAULTS = _defaults(LimitInfo)
_EXPENSE_DEFAULTS = _defaults(PublicExpense)
_TICKET_DEFAULTS = _defaults(MedicalTicket)


def _plain(value: Any) -> dict[str, Any]:
    """A dataclass as a dict of its non-default fields (nested ones likewise)."""
    out: dict[str, Any] = {}
    for f in fields(value):
        if f.name in _LEFT_OUT:
            continue
        item = getattr(value, f.name)
        if item == f.default or (isinstance(item, tuple) and not item):
            continue
        if isinstance(item, tuple):
            out[f.name] = [_plain(x) if hasattr(x, "__dataclass_fields__") else x for x in item]
        elif hasattr(item, "__dataclass_fields__"):
            out[f.name] = _plain(item)
        else:
            out[f.name] = item
    return out


def _qualification(doc: dict[str, Any]) -> Qualification:
    values = dict(doc)
    if "elderly" in values:
        values["elderly"] = _made(ElderlyInfo, _ELDERLY_DEFAULTS, values["elderly"])
    if "limit" in values:
        values["limit"] = _made(LimitInfo, _LIMIT_DEFAULTS, values["limit"])
    if "consents" in values:
        values["consents"] = tuple(
            _made(ConsentState, _CONSENT_DEFAULTS, c) for c in values["consents"]
        )
    if "public_expenses" in values:
        values["public_expenses"] = tuple(
            _made(PublicExpense, _EXPENSE_DEFAULTS, e) for e in values["public_expenses"]
        )
    if "medical_tickets" in values:
        values["medical_tickets"] = tuple(_ticket(t) for t in values["medical_tickets"])
    if "specific_diseases" in values:
        values["specific_diseases"] = tuple(values["specific_diseases"])
    return _made(Qualification, _QUALIFICATION_DEFAULTS, values)


def _ticket(doc: dict[str, Any]) -> MedicalTicket:
    values = dict(doc)
    for name in ("injury_names", "remarks"):
        if name in values:
            values[name] = tuple(values[name])
    return _made(MedicalTicket, _TICKET_DEFAULTS, values)
