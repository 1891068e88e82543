"""Fuzzers: hostile XML and typed identifiers get the module's own error or a good value.

XML: the sample messages in tests/unit/samples and the simulator's own answers (UTF-8 and
Shift_JIS, every kind of answer its population gives) are mutated with a fixed seed (bytes
flipped, inserted, deleted, spliced, truncated; elements removed, duplicated, renamed,
emptied, nested deep, given huge or hostile text; declarations, byte order marks and
encodings changed; DTDs and entities added) and read by sync/xmlmsg.py as a result and as a
request: a `MessageError` or a good parse, never anything else. A result that parses is
then saved and read back through the real store, as the appliance would.

Identifiers: random text (digits of other scripts, full width, era names, separators,
controls, surrogates, any code point, huge lengths, near misses of good values) through
sync/identifiers.py: its `IdentifierError` or a value of the right shape. The whole manual
check form (device/checks.py, symbols and numbers included) either lists its problems or
gives numbers that build a request which reads back the same.

The suite runs a fixed budget; `make drills` runs ten times as many cases.
"""

from __future__ import annotations

import base64
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from device.checks import CheckedNumbers, InputRejected, NumbersInput, validate_numbers
from sync.codes import badge
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.identifiers import (
    IdentifierError,
    check_digit,
    validate_birthdate,
    validate_branch,
    validate_insurer_number,
    validate_medical_institution_code,
)
from sync.store import Store
from sync.xmlmsg import (
    CardAuthentication,
    ConsentAnswer,
    MessageError,
    QualificationRequest,
    QualificationResult,
    SearchInfo,
    build_request,
    parse_request,
    parse_result,
)
from web.field_errors import field_errors_text

SAMPLES = Path(__file__).resolve().parents[1] / "unit" / "samples"
SEED = 8
XML_CASES = 1500  # × the drill budget
IDENTIFIER_CASES = 6000  # × the drill budget
INSTITUTION = "1312345670"
FIXED = datetime(2024, 4, 1, 0, 30, tzinfo=UTC)  # 09:30 in Japan, the samples' day
TODAY = date(2024, 4, 1)
BASE64_TAGS = ("Certificate", "Nonce", "Signature")


# ------------------------------------------------------------------------ the seeds


def _simulator_messages(pki: Any) -> list[bytes]:
    """Requests the appliance builds and what the simulator answers them, in both encodings."""
    from sim.central.service import CentralService
    from sim.population import population

    people = population()
    # One person per kind of answer (validity 1…6), plus elderly, limit and public aid ones,
    # one with a 医療券 and one with a 公費 beside the insurance.
    chosen: dict[str, Any] = {}
    for p in people:
        for key in (
            f"v{p.validity}",
            "elderly" * bool(p.elderly_ratio),
            "limit" * bool(p.limit_classification),
            "aid" * (not p.contribution_ratio),
            "ticket" * bool(p.aid_tickets),
            "grant" * bool(p.grants),
        ):
            if key and key not in chosen:
                chosen[key] = p
    messages: list[bytes] = []
    for encoding in ("utf-8", "shift_jis"):
        service = CentralService(pki, people, encoding=encoding, clock=lambda: FIXED)
        for n, p in enumerate(chosen.values()):
            request = build_request(
                QualificationRequest(
                    medical_institution_code=INSTITUTION,
                    confirmation_date="20240401",
                    file_id=f"fuzz{encoding[0]}{n:03d}",
                    reference_classification="2",
                    search=SearchInfo(
                        p.insurer_number.zfill(8),
                        p.number,
                        p.birthdate,
                        p.symbol,
                        p.branch,
                        limit_consent=True,
                    ),
                )
            )
            messages += [request, service.qualify(request, INSTITUTION).body]
    card = QualificationRequest(
        medical_institution_code=INSTITUTION,
        confirmation_date="20240401",
        file_id="fuzzcard",
        reference_classification="1",
        card=CardAuthentication(bytes(range(256)) * 4, b"\x01" * 32, b"\x02" * 256, "pin"),
        consents=(
            ConsentAnswer("drug", True, "20240401093000"),
            ConsentAnswer("checkup", False, "20240401093000"),
        ),
    )
    messages.append(build_request(card))
    return messages


@pytest.fixture(scope="module")
def seeds(pki_at: Any) -> list[bytes]:
    # The simulator answers on the samples' day, with the test PKI as built on that day.
    simulated = _simulator_messages(pki_at(FIXED))
    return [p.read_bytes() for p in sorted(SAMPLES.glob("*.xml"))] + simulated


# ------------------------------------------------------------------- hostile pieces

_ALPHABETS = (
    "0123456789",
    "０１２３４５６７８９",
    "٠١٢٣٤٥٦٧٨٩",  # Arabic-Indic digits
    "०१२३४५६७८९",  # Devanagari digits
    "๐๑๒๓๔๕๖๗๘๙",  # Thai digits
    "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗",  # mathematical digits
    "²³¹½⑴①㊀Ⅻ",
    "MTSHRmtshr明大昭平令元治正和成年月日",
    "-/.・ 　\t\n\r＿－／",
    "ABCabcｱｲｳアイウ漢字記号番号ß",
    "\x00\x07\x1f\x7f\x85\u200b\u200e\u2028\ufeff\ufffe\uffff\ud800\udfff\U0010ffff\U0001f600",
    "<>&'\"]]>&amp;&#0;&#xD800;&lt;",
)
_GOOD_VALUES = (
    "06132013",
    "138057",
    "00138057",
    "19700401",
    "1970-04-01",
    "1970/4/1",
    "1970年4月1日",
    "S45.4.1",
    "昭和45年4月1日",
    "R1.5.1",
    "令和元年5月1日",
    "H310430",
    "01",
    "1312345670",
    "記号12",
    "ＡＢ－１２",
)
_ENCODING_NAMES = (
    "UTF-8",
    "utf8",
    "Shift_JIS",
    "shift-jis",
    "cp932",
    "EUC-JP",
    "UTF-16",
    "latin-1",
    "ascii",
    "ISO-2022-JP",
    "x-unknown",
    "",
)


# Huge values: in XML up to the message cap (1 MB); typed identifiers arrive through forms
# capped at 64 KiB (web/app.py), and their checks are linear, so no point going further.
XML_HUGE = (10_000, 200_000, 600_000)
FORM_HUGE = (1_000, 64_000)


def _junk(rng: random.Random, huge: tuple[int, ...] = XML_HUGE, force: bool = False) -> str:
    roll = rng.random()
    if force or roll < 0.05:
        return rng.choice(_ALPHABETS[:3]) * (rng.choice(huge) // 10)
    if roll < 0.45:
        value = list(rng.choice(_GOOD_VALUES))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(value) + 1)
            action = rng.random()
            char = rng.choice(rng.choice(_ALPHABETS))
            if action < 0.4 or not value:
                value.insert(at, char)
            elif action < 0.7:
                value[min(at, len(value) - 1)] = char
            else:
                del value[min(at, len(value) - 1)]
        return "".join(value)
    if roll < 0.8:
        pool = "".join(rng.sample(_ALPHABETS, rng.randint(1, 3)))
        return "".join(rng.choice(pool) for _ in range(rng.randint(0, 30)))
    return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randint(0, 20)))


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# ----------------------------------------------------------------- XML mutations

Mutation = Callable[[random.Random, bytes], bytes]


def _flip(rng: random.Random, doc: bytes) -> bytes:
    data = bytearray(doc)
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _insert(rng: random.Random, doc: bytes) -> bytes:
    at = rng.randrange(len(doc) + 1)
    piece = rng.choice((_raw(_junk(rng)), bytes(rng.randrange(256) for _ in range(8))))
    return doc[:at] + piece + doc[at:]


def _delete(rng: random.Random, doc: bytes) -> bytes:
    at = rng.randrange(len(doc))
    return doc[:at] + doc[at + rng.randint(1, 64) :]


def _truncate(rng: random.Random, doc: bytes) -> bytes:
    return doc[: rng.randrange(len(doc))]


def _splice(rng: random.Random, doc: bytes) -> bytes:
    start = rng.randrange(len(doc))
    piece = doc[start : start + rng.randint(1, 400)]
    at = rng.randrange(len(doc) + 1)
    return doc[:at] + piece + doc[at:]


_DECLARATION = re.compile(rb"^(\xef\xbb\xbf)?<\?xml[^>]*\?>")


def _tree(doc: bytes) -> tuple[ET.Element, str] | None:
    """The element tree of a well-formed seed (or earlier mutation) and its encoding."""
    found = re.search(rb"encoding=[\"']([A-Za-z0-9_.-]+)", doc[:100])
    name = found[1].decode().lower() if found else "utf-8"
    codec = "cp932" if name.replace("-", "_") in ("shift_jis", "cp932", "sjis") else "utf-8"
    try:
        text = _DECLARATION.sub(b"", doc).decode(codec)
        return ET.fromstring(text), codec
    except (UnicodeDecodeError, ET.ParseError, ValueError):
        return None


def _write(root: ET.Element, codec: str) -> bytes:
    body = ET.tostring(root, encoding="unicode")
    name = "Shift_JIS" if codec == "cp932" else "UTF-8"
    text = f'<?xml version="1.0" encoding="{name}"?>\n{body}'
    return text.encode(codec, "xmlcharrefreplace") if codec == "cp932" else _raw(text)


def _element_op(rng: random.Random, doc: bytes) -> bytes:
    parsed = _tree(doc)
    if parsed is None:
        return _flip(rng, doc)
    root, codec = parsed
    parents = {child: parent for parent in root.iter() for child in parent}
    elements = list(parents)
    if not elements:
        return doc
    target = rng.choice(elements)
    parent = parents[target]
    op = rng.randrange(8)
    if op == 0:
        parent.remove(target)
    elif op == 1:
        for _ in range(rng.choice((1, 1, 2, 5000))):
            parent.append(target)  # the same subtree again (repeated elements)
    elif op == 2:
        target.tag = rng.choice((target.tag + "X", "", "XmlMsg", "ResultList", "Name"))
    elif op == 3:
        target.text = _junk(rng)
    elif op == 4:
        target.text = _junk(rng, force=True)
    elif op == 5:
        for child in list(target):
            target.remove(child)
        target.text = None
    elif op == 6:  # nesting deep enough to hurt anything recursive
        inner = target
        for _ in range(rng.choice((50, 900))):  # serialisable: deeper comes as bytes
            inner = ET.SubElement(inner, target.tag)
    else:  # an element moved to another place in the tree
        parent.remove(target)
        rng.choice([root, *elements]).append(target)
    try:
        return _write(root, codec)
    except (ValueError, RecursionError):
        return doc


def _base64_op(rng: random.Random, doc: bytes) -> bytes:
    """Certificate, Nonce or Signature with text that is not base64 (or is, oddly wrapped)."""
    tag = rng.choice(BASE64_TAGS).encode()
    found = re.search(rb"<" + tag + rb">(.*?)</" + tag + rb">", doc, re.S)
    if found is None:
        return _element_op(rng, doc)
    value = rng.choice(
        (
            _raw(_junk(rng)),
            base64.b64encode(bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))),
            b"=" * rng.randint(1, 8),
            found[1].replace(b"A", "Ａ".encode(), 1),  # one full-width letter
            found[1][: rng.randrange(len(found[1]) + 1)],
        )
    )
    return doc[: found.start(1)] + value + doc[found.end(1) :]


def _encoding_op(rng: random.Random, doc: bytes) -> bytes:
    body = _DECLARATION.sub(b"", doc)
    name = rng.choice(_ENCODING_NAMES)
    declaration = f'<?xml version="1.0" encoding="{name}"?>'.encode() if name else b""
    op = rng.randrange(5)
    if op == 0:  # another declaration, same bytes
        return declaration + body
    if op == 1:  # no declaration at all
        return body
    if op == 2:  # a byte order mark in front
        return rng.choice((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) + doc
    parsed = _tree(doc)
    if parsed is None:
        return declaration + body
    try:
        text = ET.tostring(parsed[0], encoding="unicode")
    except RecursionError:
        return declaration + body
    codec = rng.choice(("utf-16", "utf-16-le", "euc_jp", "iso2022_jp", "latin-1", "cp932"))
    encoded = text.encode(codec, "replace")
    if op == 3:  # re-encoded, declaration says so (or not)
        return f'<?xml version="1.0" encoding="{codec}"?>'.encode(codec) + encoded
    return declaration + encoded  # re-encoded, declaration says something else


def _dtd_op(rng: random.Random, doc: bytes) -> bytes:
    body = _DECLARATION.sub(b"", doc)
    dtd = rng.choice(
        (
            b'<!DOCTYPE XmlMsg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>',
            b'<!DOCTYPE XmlMsg SYSTEM "file:///etc/passwd">',
            b'<!DOCTYPE XmlMsg [<!ENTITY x SYSTEM "http://127.0.0.1:9/">]>',
            b"<!-- " + b"-" * rng.randint(0, 3) + b" -->",
            b"<?pi " + _raw(_junk(rng)) + b"?>",
        )
    )
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + dtd + body.replace(b"<Name>", b"<Name>&b;", 1)
    )


# Dates and times at the edges of what datetime (and UTC) can hold, and just past them.
_BOUNDARY_VALUES = (
    "00000000",
    "00010101",
    "99991231",
    "20240230",
    "00010101000000",
    "00010101085959",
    "00010101090000",
    "99991231235959",
    "20241301000000",
    "20240101246060",
    "0",
    "1" * 14,
    "-0010101",
    "２０２４０４０１",
)
_DATE_ELEMENT = re.compile(rb"<([A-Za-z]*(?:Date|Time|Birthdate))>([^<]*)</\1>")


def _boundary_op(rng: random.Random, doc: bytes) -> bytes:
    """Each date and time element, by a coin toss, set to a value at or past an edge."""
    if not _DATE_ELEMENT.search(doc):
        return _element_op(rng, doc)

    def edge(found: re.Match[bytes]) -> bytes:
        if rng.random() < 0.5:
            return found[0]
        value = _raw(rng.choice(_BOUNDARY_VALUES))
        return b"<%s>%s</%s>" % (found[1], value, found[1])

    return _DATE_ELEMENT.sub(edge, doc)


def _nest_op(rng: random.Random, doc: bytes) -> bytes:
    """Elements nested deeper than any recursive reader survives, spliced in as bytes."""
    ends = [m.end() for m in re.finditer(rb">", doc)]
    at = rng.choice(ends) if ends else 0
    tag = rng.choice((b"ResultList", b"X", b"MessageBody"))
    depth = rng.choice((100, 1_000, 30_000))
    nested = b"<%s>" % tag * depth + b"</%s>" % tag * depth
    return doc[:at] + nested + doc[at:]


MUTATIONS: tuple[Mutation, ...] = (
    _boundary_op,
    _boundary_op,
    _nest_op,
    _flip,
    _insert,
    _delete,
    _truncate,
    _splice,
    _element_op,
    _element_op,
    _element_op,
    _base64_op,
    _encoding_op,
    _dtd_op,
)


# ------------------------------------------------------------------ classification


def _non_ascii_certificate() -> bytes:
    doc = (SAMPLES / "OQSsiquc01req_20240401091500002.xml").read_bytes()
    return doc.replace(b"<Nonce>AAEC", "<Nonce>ＡAEC".encode(), 1)


def test_base64_field_with_non_ascii_text_is_a_message_error() -> None:
    """Found by the fuzzer: base64 with non-ASCII text raised a bare ValueError."""
    with pytest.raises(MessageError):
        parse_request(_non_ascii_certificate())


def test_answer_with_a_consent_time_before_utc_year_one_is_saved() -> None:
    """Found by the fuzzer: 0001-01-01 before 09:00 in Japan has no UTC instant, and saving
    such an answer raised OverflowError (a verified card visit ended as "internal error")."""
    doc = (SAMPLES / "OQSsiquc01res_face_20240401091500002.xml").read_bytes()
    doc = re.sub(rb"(<[A-Za-z]*ConsTime>)[0-9]+<", rb"\g<1>00010101000000<", doc)
    store = Store(":memory:", FieldCipher(FieldKeys.generate()), clock=lambda: FIXED)
    stored = store.save_confirmation(
        file_id="year1",
        raw_result=doc,
        result=parse_result(doc),
        kind="card",
        method="pin",
        actor="reader",
    )
    consents = store.consents(stored.id)
    assert consents and all(c.consented_at is None for c in consents)  # "not a real time"
    store.close()


def test_answer_with_a_consent_time_in_utc_year_one_reads_back() -> None:
    """Found by the edge sweep: 0001-01-01 09:00 in Japan is midnight UTC of year 1, which
    was stored as "1-01-01T…" (strftime does not pad the year), and reading the consents of
    that answer then raised ValueError (the answer's page failed)."""
    doc = (SAMPLES / "OQSsiquc01res_face_20240401091500002.xml").read_bytes()
    doc = re.sub(rb"(<[A-Za-z]*ConsTime>)[0-9]+<", rb"\g<1>00010101090000<", doc)
    store = Store(":memory:", FieldCipher(FieldKeys.generate()), clock=lambda: FIXED)
    stored = store.save_confirmation(
        file_id="year1utc",
        raw_result=doc,
        result=parse_result(doc),
        kind="card",
        method="pin",
        actor="reader",
    )
    consents = store.consents(stored.id)
    assert datetime(1, 1, 1, tzinfo=UTC) in {c.consented_at for c in consents}
    store.close()


@dataclass
class Finding:
    case: int
    mutations: str
    where: str
    error: str

    def __str__(self) -> str:
        return f"case {self.case} ({self.mutations}) in {self.where}: {self.error}"


class Reader:
    """Reads each document as a result and as a request, as the appliance and the simulator
    would, saves the results that read through the real store, and keeps the findings."""

    def __init__(self) -> None:
        self.store = Store(":memory:", FieldCipher(FieldKeys.generate()), clock=lambda: FIXED)
        self.unexpected: list[Finding] = []
        self.parsed = self.refused = self.saved = 0

    def read(self, case: int, label: str, doc: bytes) -> None:
        for parse in (parse_result, parse_request):
            try:
                message = parse(doc)
            except MessageError:
                self.refused += 1
                continue
            except Exception as exc:  # the finding: anything but MessageError
                self.unexpected.append(Finding(case, label, parse.__name__, repr(exc)[:300]))
                continue
            self.parsed += 1
            if isinstance(message, QualificationResult):
                self._save(case, label, doc, message)

    def _save(self, case: int, label: str, doc: bytes, result: QualificationResult) -> None:
        try:  # what the appliance does with an answer that reads
            badge(result)
            stored = self.store.save_confirmation(
                file_id=f"fuzz{case}",
                raw_result=doc,
                result=parse_result(doc),
                kind="numbers",
                method="numbers",
                actor="fuzz",
            )
            again = self.store.confirmation(stored.id)
            assert again is not None and again.result == stored.result
            self.store.consents(stored.id)
            self.saved += 1
        except Exception as exc:
            self.unexpected.append(Finding(case, label, "store", repr(exc)[:300]))

    def check(self) -> None:
        self.store.close()
        shown = "\n".join(str(f) for f in self.unexpected[:20])
        assert not self.unexpected, f"{len(self.unexpected)} unexpected exceptions:\n{shown}"


def test_xml_mutations_give_message_error_or_a_good_parse(
    seeds: list[bytes], drill_budget: int, figure: Callable[[str], None]
) -> None:
    rng = random.Random(SEED)
    cases = XML_CASES * drill_budget
    reader = Reader()
    for case in range(cases):
        doc = rng.choice(seeds)
        names = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            mutate = rng.choice(MUTATIONS)
            names.append(mutate.__name__.strip("_"))
            doc = mutate(rng, doc) or doc
        reader.read(case, "+".join(names), doc)
    reader.check()
    figure(
        f"{cases:,} XML cases ({len(seeds)} seeds, {2 * cases:,} parses: {reader.refused:,}"
        f" MessageError, {reader.parsed:,} good, {reader.saved:,} results saved and read"
        f" back), 0 unexpected exceptions"
    )


def test_every_date_of_the_samples_at_every_edge(figure: Callable[[str], None]) -> None:
    """Not random: each date and time element of each sample, one at a time, set to each
    edge value (where random mutations rarely land with the rest of the message intact)."""
    reader = Reader()
    case = 0
    for path in sorted(SAMPLES.glob("*.xml")):
        doc = path.read_bytes()
        for found in _DATE_ELEMENT.finditer(doc):
            for value in _BOUNDARY_VALUES:
                edged = doc[: found.start(2)] + _raw(value) + doc[found.end(2) :]
                reader.read(case, f"{path.name} {found[1].decode()}={value}", edged)
                case += 1
    reader.check()
    figure(
        f"{case:,} edge cases ({reader.parsed:,} good parses, {reader.saved:,} saved),"
        f" 0 unexpected exceptions"
    )


# -------------------------------------------------------------------- identifiers


def _digits(value: str, lengths: tuple[int, ...]) -> bool:
    return len(value) in lengths and all("0" <= c <= "9" for c in value)


def _insurer_shape(value: object) -> bool:
    return (
        isinstance(value, str)
        and _digits(value, (6, 8))
        and str(check_digit(value[:-1])) == value[-1]
    )


def _birthdate_shape(value: object) -> bool:
    if not isinstance(value, str) or not _digits(value, (8,)):
        return False
    return datetime.strptime(value, "%Y%m%d").year >= 1868


IDENTIFIERS: tuple[tuple[Callable[[str], object], Callable[[object], bool]], ...] = (
    (validate_insurer_number, _insurer_shape),
    (validate_birthdate, _birthdate_shape),
    (validate_branch, lambda v: isinstance(v, str) and (v == "" or _digits(v, (2,)))),
    (validate_medical_institution_code, lambda v: isinstance(v, str) and _digits(v, (10,))),
    (check_digit, lambda v: isinstance(v, int) and 0 <= v <= 9),
)


def _field(rng: random.Random, good: str) -> str:
    return good if rng.random() < 0.75 else _junk(rng, FORM_HUGE)


def _read_back(checked: CheckedNumbers) -> None:
    """Numbers the form accepted build the request ManualChecks sends, which reads back."""
    search = SearchInfo(
        insurer_number=checked.insurer_number.zfill(8),
        number=checked.number,
        birthdate=checked.birthdate,
        symbol=checked.symbol,
        branch=checked.branch,
        limit_consent=checked.limit_consent,
    )
    request = QualificationRequest(INSTITUTION, checked.care_date, "fuzzform", "2", search=search)
    assert parse_request(build_request(request)).search == search


def test_identifiers_give_their_own_error_or_a_good_value(
    drill_budget: int, figure: Callable[[str], None]
) -> None:
    rng = random.Random(SEED)
    cases = IDENTIFIER_CASES * drill_budget
    unexpected: list[str] = []
    values = refused = forms_ok = forms_refused = 0
    for case in range(cases):
        text = _junk(rng, FORM_HUGE)
        for validate, shaped in IDENTIFIERS:
            try:
                value = validate(text)
            except IdentifierError:
                refused += 1
                continue
            except Exception as exc:
                unexpected.append(f"case {case} {validate.__name__}({text[:40]!r}): {exc!r}")
                continue
            values += 1
            if not shaped(value):
                unexpected.append(f"case {case} {validate.__name__}({text[:40]!r}) → {value!r}")
        if case % 4:
            continue  # the whole form on a quarter of the cases: it is ten times slower
        typed = NumbersInput(
            _field(rng, "06132013"),
            _field(rng, "記号12"),
            _field(rng, "1234"),
            _field(rng, "01"),
            _field(rng, "19700401"),
            _field(rng, ""),
            rng.random() < 0.5,
        )
        try:
            checked = validate_numbers(typed, TODAY)
            _read_back(checked)
            forms_ok += 1
        except InputRejected as exc:
            shown = field_errors_text(exc.errors)
            assert shown and all(" / " in m for m in shown.values())
            forms_refused += 1
        except Exception as exc:
            unexpected.append(f"case {case} form {typed!r}: {exc!r}"[:400])
    shown = "\n".join(unexpected[:20])
    assert not unexpected, f"{len(unexpected)} unexpected:\n{shown}"
    figure(
        f"{cases:,} identifier cases × {len(IDENTIFIERS)} checks ({refused:,} refused,"
        f" {values:,} good values of the right shape), {forms_ok + forms_refused:,} whole"
        f" forms ({forms_refused:,} refused with reasons, {forms_ok:,} read back the same),"
        " 0 unexpected exceptions"
    )
