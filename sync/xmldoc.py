"""The document layer under XmlMsg: bytes ↔ text ↔ a tree that knows each element's path.

Encodings per the XML declaration (UTF-8, and Shift_JIS read as CP932 because Windows wrote it),
characters a codec cannot carry written as references, DTDs and entities refused, and a `Node`
whose every complaint names the tag path at fault without echoing the value (values are
personal data and error messages get logged). The vocabulary of the messages is sync/xmlmsg.py.
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedET

MAX_MESSAGE_BYTES = 1_000_000
ROOT_TAG = "XmlMsg"

_UTF8_BOM = b"\xef\xbb\xbf"
# Files declared Shift_JIS come from Windows, whose "Shift_JIS" is CP932 (NEC/IBM extensions,
# ～ as U+FF5E); decoding as CP932 reads what those systems wrote.
_CODECS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "csshiftjis": "cp932",
    "windows-31j": "cp932",
    "cp932": "cp932",
}
_DECLARED_NAME = {"utf-8": "UTF-8", "cp932": "Shift_JIS"}
_DECLARATION = re.compile(
    r"""<\?xml\s+version\s*=\s*(["'])1\.[0-9]+\1"""
    r"""(?:\s+encoding\s*=\s*(["'])(?P<encoding>[A-Za-z][A-Za-z0-9._-]*)\2)?"""
    r"""(?:\s+standalone\s*=\s*(["'])(?:yes|no)\4)?\s*\?>"""
)
_DECLARATION_BYTES = re.compile(_DECLARATION.pattern.encode("ascii"))
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# A carriage return in text would come back as a newline (XML end-of-line handling); it is
# carried as a character reference instead. NUL cannot be in the tree (rejected above), so it
# is a safe stand-in between ElementTree and the final text.
_CR_STAND_IN = "\x00"
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_XML_SPACE = re.compile(r"[ \t\r\n]+")
_DATE_DIGITS = {
    6: re.compile(r"[0-9]{6}"),
    8: re.compile(r"[0-9]{8}"),
    14: re.compile(r"[0-9]{14}"),
}
_DATE_FORMAT = {6: ("年月", "YYYYMM"), 8: ("日付", "YYYYMMDD"), 14: ("日時", "YYYYMMDDHHmmss")}


class MessageError(ValueError):
    """A message that cannot be built or read; `path` is the tag path at fault, when known."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def add_leaf(parent: ET.Element, tag: str, value: str, *, always: bool = False) -> None:
    """Append a leaf; optional empty values are omitted."""
    if not value and not always:
        return
    if _NOT_XML_CHAR.search(value):
        raise MessageError(
            f"{tag} に XML で扱えない文字があります / {tag} holds a character XML cannot carry",
            tag,
        )
    ET.SubElement(parent, tag).text = value.replace("\r", _CR_STAND_IN)


def add_flag(parent: ET.Element, tag: str, value: bool) -> None:
    ET.SubElement(parent, tag).text = "1" if value else "0"


def serialize(root: ET.Element, encoding: str) -> bytes:
    codec = _CODECS.get(encoding.lower())
    if codec is None:
        raise MessageError(
            f"文字コード {encoding[:20]} では書けません (UTF-8 か Shift_JIS) / "
            f"cannot write encoding {encoding[:20]} (UTF-8 or Shift_JIS only)"
        )
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode").replace(_CR_STAND_IN, "&#13;")
    text = f'<?xml version="1.0" encoding="{_DECLARED_NAME[codec]}"?>\n{body}\n'
    if codec != "utf-8":
        text = _NON_ASCII.sub(lambda found: _portable(found[0], codec), text)
    return text.encode(codec)


def _portable(char: str, codec: str) -> str:
    """The character itself when it survives the codec both ways, else a character reference.

    This covers gaiji and emoji (not in CP932 at all) and the few characters CP932 encodes
    one way only (U+301C 〜 is written as 0x8160, which reads back as U+FF5E ～).
    """
    try:
        if char.encode(codec).decode(codec) == char:
            return char
    except UnicodeError:
        pass
    return f"&#{ord(char)};"


def _decode(data: bytes, limit: int = MAX_MESSAGE_BYTES) -> str:
    """Bytes → text per the XML declaration (expat itself cannot read multi-byte Shift_JIS)."""
    if len(data) > limit:
        raise MessageError(
            f"メッセージが大きすぎます ({len(data)} バイト、上限 {limit}) / "
            f"message too large ({len(data)} bytes, limit {limit})"
        )
    has_bom = data.startswith(_UTF8_BOM)
    if has_bom:
        data = data[len(_UTF8_BOM) :]
    declared = "UTF-8"
    if data.startswith(b"<?xml"):
        found = _DECLARATION_BYTES.match(data)
        if found is None:
            raise MessageError("XML 宣言が正しくありません / malformed XML declaration")
        if found["encoding"] is not None:
            declared = found["encoding"].decode("ascii")
    codec = _CODECS.get(declared.lower())
    if codec is None:
        raise MessageError(
            f"文字コード {declared[:20]} には対応していません (UTF-8 か Shift_JIS) / "
            f"encoding {declared[:20]} is not supported (UTF-8 or Shift_JIS only)"
        )
    if has_bom and codec != "utf-8":
        raise MessageError(
            f"UTF-8 の BOM があるのに {declared} と宣言されています / "
            f"UTF-8 byte order mark but {declared} declared"
        )
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        name = _DECLARED_NAME[codec]
        raise MessageError(
            f"{name} として読めないバイトがあります ({exc.start} バイト目) / "
            f"bytes are not valid {name} (offset {exc.start}); "
            "a file without an encoding declaration must be UTF-8"
        ) from None
    found_text = _DECLARATION.match(text)
    return text[found_text.end() :] if found_text else text


def parse_document(data: bytes, *, limit: int = MAX_MESSAGE_BYTES) -> Node:
    """The document's root; `limit`: its size cap in bytes (a bulk answer's is larger)."""
    text = _decode(data, limit)
    try:
        root = DefusedET.fromstring(
            text, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException:
        raise MessageError(
            "DOCTYPE・実体宣言は受け付けません / DOCTYPE and entity declarations are refused"
        ) from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise MessageError(
            f"XML として読めません ({line}行目 {column}文字目) / not well-formed XML ({exc})"
        ) from None
    if not isinstance(root, ET.Element):
        raise MessageError("XML として読めません / not well-formed XML")
    if root.tag != ROOT_TAG:
        tag = str(root.tag)[:40]
        raise MessageError(
            f"ルート要素が XmlMsg ではありません ({tag}) / root element is {tag}, not XmlMsg"
        )
    return Node(root, "")


class Node:
    """An element with its tag path, so every complaint can say where."""

    def __init__(self, element: ET.Element, path: str) -> None:
        self.element = element
        self.path = path

    def sub(self, tag: str) -> str:
        return f"{self.path}/{tag}" if self.path else tag

    def child(self, tag: str) -> Node | None:
        found = self.element.find(tag)
        return None if found is None else Node(found, self.sub(tag))

    def require(self, tag: str) -> Node:
        found = self.child(tag)
        if found is None:
            raise missing_tag(self.sub(tag))
        return found

    def children(self, tag: str) -> Iterator[Node]:
        for index, found in enumerate(self.element.findall(tag), start=1):
            yield Node(found, self.sub(f"{tag}[{index}]"))

    def text(self, tag: str, *, required: bool = False) -> str:
        found = self.element.find(tag)
        value = "" if found is None or found.text is None else found.text
        if required and not value:
            path = self.sub(tag)
            if found is None:
                raise missing_tag(path)
            raise MessageError(f"{path} が空です / {path} is empty", path)
        return value

    def date(self, tag: str, digits: int, *, required: bool = False) -> str:
        """Dates stay strings as on the wire; only their shape is checked."""
        value = self.text(tag, required=required)
        if value and not _DATE_DIGITS[digits].fullmatch(value):
            path = self.sub(tag)
            kind, layout = _DATE_FORMAT[digits]
            raise MessageError(
                f"{path} の{kind}形式が違います ({layout} の{digits}桁) / "
                f"{path} must be {digits} digits ({layout})",
                path,
            )
        return value

    def flag(self, tag: str) -> bool:
        value = self.text(tag)
        if value not in ("", "0", "1"):
            path = self.sub(tag)
            raise MessageError(f"{path} は 0 か 1 です / {path} must be 0 or 1", path)
        return value == "1"

    def base64(self, tag: str) -> bytes:
        # Line-wrapped base64 is fine (XML whitespace only). Non-ASCII text never is:
        # b64decode would raise a ValueError of its own for it, not binascii.Error.
        value = _XML_SPACE.sub("", self.text(tag, required=True))
        try:
            if not value.isascii():
                raise ValueError("not ASCII")
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            path = self.sub(tag)
            raise MessageError(
                f"{path} が base64 として読めません / {path} is not valid base64", path
            ) from None


def missing_tag(path: str) -> MessageError:
    return MessageError(f"{path} がありません / {path} is missing", path)
