"""The face-file format the official terminal writes into its `face/` folder (DOMAIN §8), so a
receipt computer (レセコン) that already reads that folder reads onshi-edge's own card visits
unchanged.

Name: `OQSsiquc01res_face_<medical institution code><id>_<YYYYMMDDhhmmss>.xml`; content: a
qualification result with ReferenceClassification 1, in Shift_JIS (as written on Windows,
CP932) with CRLF line ends, as the files integrators handle are. Characters Shift_JIS cannot
hold (外字 such as 𠮷) travel as XML character references (sync/xmldoc.serialize).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sync.xmldoc import MessageError
from sync.xmlmsg import QualificationResult, build_result, checked_file_id

FACE_PREFIX = "OQSsiquc01res_face_"
# <prefix><10-digit institution code><id>_<YYYYMMDDhhmmss>.xml (the id part is the terminal's
# own: "hash-like", or a code and counter in some tools)
_FACE_NAME = re.compile(
    re.escape(FACE_PREFIX)
    + r"(?P<code>[0-9]{10})(?P<id>[0-9A-Za-z.-]{1,80})_(?P<time>[0-9]{14})\.xml"
)
FACE_ENCODING = "shift_jis"
_CODE = re.compile(r"[0-9]{10}")
_TIME = re.compile(r"[0-9]{14}")


@dataclass(frozen=True)
class FaceName:
    institution_code: str
    id: str
    time: str  # YYYYMMDDhhmmss, Japan time

    @property
    def file_id(self) -> str:
        """The identifier its answer is stored under: the terminal's own id part, marked as
        the face folder's (a face file answers no request of ours, and its
        ArbitraryFileIdentifier may be empty)."""
        return f"face-{self.institution_code}{self.id}"


def parse_face_name(name: str) -> FaceName | None:
    """The parts of a face file's name; None for any other file (temporary names, other
    kinds of answer, stray files)."""
    found = _FACE_NAME.fullmatch(name)
    if found is None:
        return None
    return FaceName(found["code"], found["id"], found["time"])


def face_file_name(medical_institution_code: str, file_id: str, process_time: str) -> str:
    """The file's name: the institution code and the answer's file identifier as its id part,
    and the answer's processing time (Japan time, YYYYMMDDhhmmss)."""
    if not _CODE.fullmatch(medical_institution_code):
        raise MessageError(
            "医療機関コードは10桁の数字です / the medical institution code is 10 digits"
        )
    if not _TIME.fullmatch(process_time):
        raise MessageError(
            "処理日時は YYYYMMDDhhmmss の14桁です / the processing time is 14 digits"
        )
    return f"{FACE_PREFIX}{medical_institution_code}{checked_file_id(file_id)}_{process_time}.xml"


def face_file_bytes(result: QualificationResult) -> bytes:
    """The file's content: the answer as a card visit's result (ReferenceClassification 1),
    Shift_JIS, CRLF."""
    text = build_result(replace(result, reference_classification="1"), FACE_ENCODING)
    # The only line ends in the document are the serializer's own (a CR in a value is a
    # character reference), so this changes no value.
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
