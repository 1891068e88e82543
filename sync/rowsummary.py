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

import json
from dataclasses import fields
from typing import Any

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
    doc = json.loads(unpack(data))
    if doc.get("v") != VERSION:
        raise ValueError(f"unknown row summary version {doc.get('v')!r}")
    header: dict[str, str] = doc.get("h", {})
    search = doc.get("s")
    found: list[dict[str, Any]] = doc.get("q", [])
    result = QualificationResult(
        process_time=header.get("process_time", ""),
        confirmation_date=header.get("confirmation_date", ""),
        medical_institution_code=header.get("medical_institution_code", ""),
        file_id=header.get("file_id", ""),
        reference_classification=header.get("reference_classification", ""),
        segment_of_result=header.get("segment_of_result", ""),
        **{k: v for k, v in header.items() if k in _OPTIONAL_HEADER},
        search=SearchInfo(**search) if search is not None else None,
        results=tuple(_qualification(q) for q in found),
    )
    return result


_OPTIONAL_HEADER = frozenset(
    f.name
    for f in fields(QualificationResult)
    if f.name
    not in (
        "process_time",
        "confirmation_date",
        "medical_institution_code",
        "file_id",
        "reference_classification",
        "segment_of_result",
        "search",
        "results",
    )
)


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
        values["elderly"] = ElderlyInfo(**values["elderly"])
    if "limit" in values:
        values["limit"] = LimitInfo(**values["limit"])
    if "consents" in values:
        values["consents"] = tuple(ConsentState(**c) for c in values["consents"])
    if "public_expenses" in values:
        values["public_expenses"] = tuple(PublicExpense(**e) for e in values["public_expenses"])
    if "medical_tickets" in values:
        values["medical_tickets"] = tuple(_ticket(t) for t in values["medical_tickets"])
    if "specific_diseases" in values:
        values["specific_diseases"] = tuple(values["specific_diseases"])
    return Qualification(**values)


def _ticket(doc: dict[str, Any]) -> MedicalTicket:
    values = dict(doc)
    for name in ("injury_names", "remarks"):
        if name in values:
            values[name] = tuple(values[name])
    return MedicalTicket(**values)
