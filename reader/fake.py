"""A scripted card for tests: expected commands and their replies, checked in order."""

from __future__ import annotations

from collections.abc import Iterable

from reader.apdu import hex_bytes
from reader.jpki import (
    CHUNK,
    EF_AUTH_CERT,
    EF_AUTH_KEY,
    EF_AUTH_PIN,
    read_binary_apdu,
    select_ap_apdu,
    select_ef_apdu,
    sign_apdu,
    verify_apdu,
)

OK = b"\x90\x00"
# The reply may also be an exception, raised instead of answering (e.g. CardRemoved).
Step = tuple[bytes, bytes | BaseException]


def _diff(expected: bytes, got: bytes) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
        min(len(expected), len(got)),
    )
    return (
        f"expected: {hex_bytes(expected)}\n"
        f"     got: {hex_bytes(got)}\n"
        f"first difference at byte {at}"
    )


class ScriptedConnection:
    def __init__(self, script: Iterable[Step]) -> None:
        self.script: list[Step] = list(script)
        self.sent: list[bytes] = []
        self.closed = False
        self._next = 0

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        index = self._next
        self.sent.append(apdu)
        if index >= len(self.script):
            raise AssertionError(f"APDU #{index} not in the script: {hex_bytes(apdu)}")
        expected, reply = self.script[index]
        if apdu != expected:
            raise AssertionError(f"APDU #{index} differs from the script\n{_diff(expected, apdu)}")
        self._next += 1
        if isinstance(reply, BaseException):
            raise reply
        if len(reply) < 2:
            raise AssertionError(f"scripted reply #{index} lacks a status word")
        return reply[:-2], int.from_bytes(reply[-2:], "big")

    def assert_done(self) -> None:
        left = self.script[self._next :]
        if left:
            pending = "\n".join(hex_bytes(cmd) for cmd, _ in left)
            raise AssertionError(f"{len(left)} scripted APDU(s) never sent:\n{pending}")

    def close(self) -> None:
        self.closed = True


def sw_bytes(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


def select_ap_step(sw: int = 0x9000) -> Step:
    return select_ap_apdu().to_bytes(), sw_bytes(sw)


def select_ef_step(fid: int, sw: int = 0x9000) -> Step:
    return select_ef_apdu(fid).to_bytes(), sw_bytes(sw)


def read_steps(der: bytes, ef_size: int | None = None) -> list[Step]:
    """The reads a JpkiSession makes for `der` stored in an EF padded with FF to ef_size."""
    content = der.ljust(ef_size or len(der) + CHUNK, b"\xff")
    steps: list[Step] = []
    offset = 0
    while offset < len(der):
        length = CHUNK if offset == 0 else min(CHUNK, len(der) - offset)
        cmd = read_binary_apdu(offset, length).to_bytes()
        steps.append((cmd, content[offset : offset + length] + OK))
        offset += length
    return steps


def jpki_script(
    cert_der: bytes,
    *,
    tries_left: int = 3,
    pin: str | None = None,
    pin_sw: int = 0x9000,
    digest_info: bytes | None = None,
    signature: bytes = b"",
    ef_size: int | None = None,
) -> list[Step]:
    """A PIN visit: SELECT AP, SELECT 000A, READ×n, then (if pin) SELECT 0018, VERIFY(empty),
    VERIFY(pin), then (if digest_info) SELECT 0017, SIGN."""
    steps: list[Step] = [select_ap_step(), select_ef_step(EF_AUTH_CERT)]
    steps += read_steps(cert_der, ef_size)
    if pin is not None:
        steps.append(select_ef_step(EF_AUTH_PIN))
        steps.append((verify_apdu(None).to_bytes(), sw_bytes(0x63C0 | tries_left)))
        steps.append((verify_apdu(pin).to_bytes(), sw_bytes(pin_sw)))
    if digest_info is not None:
        steps.append(select_ef_step(EF_AUTH_KEY))
        steps.append((sign_apdu(digest_info).to_bytes(), signature + OK))
    return steps


def fake_certificate(total: int) -> bytes:
    """A blob shaped like DER (30 82 HH LL + body) of exactly `total` bytes."""
    body = bytes((i * 7 + 3) & 0xFF for i in range(total - 4))
    return b"\x30\x82" + (total - 4).to_bytes(2, "big") + body


__all__ = [
    "OK",
    "ScriptedConnection",
    "Step",
    "fake_certificate",
    "jpki_script",
    "read_steps",
    "select_ap_step",
    "select_ef_step",
    "sw_bytes",
]
