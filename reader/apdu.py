"""Short ISO 7816-4 command APDUs and status words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_VERIFY = 0x20
INS_COMPUTE_SIGNATURE = 0x2A


class StatusWord(IntEnum):
    OK = 0x9000
    WRONG_LENGTH = 0x6700
    SECURITY_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_UNUSABLE = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    WRONG_P1P2 = 0x6A86
    WRONG_OFFSET = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00


_DESCRIPTIONS: dict[int, str] = {
    StatusWord.OK: "success",
    StatusWord.WRONG_LENGTH: "wrong length",
    StatusWord.SECURITY_NOT_SATISFIED: "security status not satisfied",
    StatusWord.AUTH_METHOD_BLOCKED: "authentication method blocked",
    StatusWord.REFERENCE_DATA_UNUSABLE: "reference data unusable",
    StatusWord.CONDITIONS_NOT_SATISFIED: "conditions of use not satisfied",
    StatusWord.WRONG_DATA: "wrong data",
    StatusWord.FUNCTION_NOT_SUPPORTED: "function not supported",
    StatusWord.FILE_NOT_FOUND: "file not found",
    StatusWord.WRONG_P1P2: "wrong P1/P2",
    StatusWord.WRONG_OFFSET: "offset beyond the end of the file",
    StatusWord.INS_NOT_SUPPORTED: "instruction not supported",
    StatusWord.CLA_NOT_SUPPORTED: "class not supported",
}


def pin_tries(sw: int) -> int | None:
    """Tries left encoded in a 63Cx status word, or None for any other word."""
    if sw & 0xFFF0 == 0x63C0:
        return sw & 0x0F
    return None


def describe_sw(sw: int) -> str:
    """'6A82 file not found'; unknown words still format cleanly."""
    code = f"{sw & 0xFFFF:04X}"
    tries = pin_tries(sw)
    if tries is not None:
        return f"{code} wrong PIN, {tries} tries left"
    return f"{code} {_DESCRIPTIONS.get(sw, 'unknown status')}"


def hex_bytes(raw: bytes) -> str:
    return raw.hex(" ").upper()


@dataclass(frozen=True)
class Apdu:
    """A short command APDU; le=256 is encoded as 00."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise ValueError(f"{name} out of range: {value}")
        if len(self.data) > 255:
            raise ValueError(f"data too long for a short APDU: {len(self.data)} bytes")
        if self.le is not None and not 1 <= self.le <= 256:
            raise ValueError(f"le out of range: {self.le}")

    def to_bytes(self) -> bytes:
        out = bytes((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out += bytes((self.le & 0xFF,))
        return out

    def header(self) -> str:
        return hex_bytes(bytes((self.cla, self.ins, self.p1, self.p2)))

    @classmethod
    def parse(cls, raw: bytes) -> Apdu:
        """Parse a short APDU (cases 1-4); extended or inconsistent lengths raise ValueError."""
        if len(raw) < 4:
            raise ValueError(f"APDU shorter than its header: {len(raw)} bytes")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        lc = body[0]
        if lc == 0:
            raise ValueError("extended-length APDUs are not supported")
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, data=bytes(body[1:]))
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, data=bytes(body[1:-1]), le=body[-1] or 256)
        raise ValueError(f"Lc={lc} does not match the {len(body) - 1} bytes that follow")


class ApduError(Exception):
    """The card answered with a status word other than 9000."""

    def __init__(self, sw: int, data: bytes = b"") -> None:
        self.sw = sw
        self.data = data
        super().__init__(describe_sw(sw))

    def __str__(self) -> str:
        return describe_sw(self.sw)
