"""A reader of face files written the way DOMAIN.md §3 and §8 describe them, written from those
facts alone (it shares no code with sync/facefile.py or sync/xmlmsg.py), as a receipt computer
that reads the official terminal's face/ folder would: the name's parts, Shift_JIS text with
CRLF line ends, the result's header, body and each ResultOfQualificationConfirmation."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(
    r"OQSsiquc01res_face_(?P<code>[0-9]{10})(?P<id>[0-9A-Za-z.-]+)_(?P<time>[0-9]{14})\.xml"
)
DECLARATION = re.compile(r'^<\?xml version="1\.0" encoding="(?P<enc>[^"]+)"\?>')
PERSON_TAGS = (
    "InsurerNumber",
    "InsuredCardSymbol",
    "InsuredIdentificationNumber",
    "InsuredBranchNumber",
    "Name",
    "NameKana",
    "Birthdate",
    "InsuredPartialContributionRatio",
    "InsurerName",
)


@dataclass(frozen=True)
class FaceRecord:
    institution_code: str
    name_id: str
    name_time: str
    header: dict[str, str]
    body: dict[str, str]
    people: list[dict[str, str]]


def read_face_file(path: Path) -> FaceRecord:
    found = NAME.fullmatch(path.name)
    assert found, f"not a face file name: {path.name}"
    data = path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b""), "a line end that is not CRLF"
    head = data[:80].decode("ascii", errors="replace")
    declared = DECLARATION.match(head)
    assert declared and declared["enc"] == "Shift_JIS", head
    text = data.decode("cp932")  # Windows' Shift_JIS
    root = ET.fromstring(text[declared.end() :].lstrip())
    assert root.tag == "XmlMsg"
    header_node = root.find("MessageHeader")
    assert header_node is not None, "no MessageHeader"
    header = {child.tag: child.text or "" for child in header_node}
    body_node = root.find("MessageBody")
    leaves = [] if body_node is None else [child for child in body_node if len(child) == 0]
    body = {child.tag: child.text or "" for child in leaves}
    people = [
        {tag: (person.findtext(tag) or "") for tag in PERSON_TAGS}
        for person in root.iterfind("MessageBody/ResultList/ResultOfQualificationConfirmation")
    ]
    return FaceRecord(found["code"], found["id"], found["time"], header, body, people)
