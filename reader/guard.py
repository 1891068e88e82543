"""Allow-list wrapper: only the JPKI auth commands reach the card, everything else is refused
before a byte is sent, so no bug above it can touch the My Number applications."""

from __future__ import annotations

import logging
from collections.abc import Callable

from reader.apdu import (
    INS_COMPUTE_SIGNATURE,
    INS_READ_BINARY,
    INS_SELECT,
    INS_VERIFY,
    Apdu,
    StatusWord,
    hex_bytes,
)
from reader.connection import CardConnection
from reader.errors import CardRemoved, ForbiddenApdu
from reader.jpki import (
    EF_AUTH_CA_CERT,
    EF_AUTH_CERT,
    EF_AUTH_KEY,
    EF_AUTH_PIN,
    FORBIDDEN_APS,
    JPKI_AP,
)

log = logging.getLogger(__name__)

ALLOWED_EFS = frozenset({EF_AUTH_CERT, EF_AUTH_CA_CERT, EF_AUTH_KEY, EF_AUTH_PIN})
READABLE_EFS = frozenset({EF_AUTH_CERT, EF_AUTH_CA_CERT})


def _mask_pin(raw: bytes) -> bytes:
    """Refused VERIFY commands are recorded with their data replaced, so a PIN never
    reaches the refusal log or audit."""
    if len(raw) > 5 and raw[1] == INS_VERIFY:
        return raw[:5] + b"*" * (len(raw) - 5)
    return raw


class GuardedConnection:
    def __init__(
        self,
        inner: CardConnection,
        on_refused: Callable[[bytes], None] | None = None,
    ) -> None:
        self.inner = inner
        self.on_refused = on_refused
        self.refused: list[bytes] = []
        self._ap_selected = False
        self._selected_ef: int | None = None

    def _refuse_reason(self, raw: bytes) -> str | None:
        """Why this command must not be sent, or None when it is allowed."""
        try:
            apdu = Apdu.parse(raw)
        except ValueError as exc:
            return f"malformed APDU ({exc})"
        if apdu.ins == INS_SELECT:
            return self._select_reason(apdu)
        if apdu.ins == INS_READ_BINARY:
            if apdu.cla != 0x00 or apdu.data:
                return f"READ BINARY {apdu.header()} not allowed"
            if apdu.p1 & 0x80:
                return f"READ BINARY by short EF id {apdu.header()}"
            if self._selected_ef not in READABLE_EFS:
                return f"READ BINARY while {self._ef_name()} is selected"
            return None
        if apdu.ins == INS_VERIFY:
            if (apdu.cla, apdu.p1, apdu.p2) != (0x00, 0x00, 0x80) or apdu.le is not None:
                return f"VERIFY {apdu.header()} not allowed"
            if len(apdu.data) not in (0, 4):
                return "VERIFY with data that is not a 4-digit PIN"
            if self._selected_ef != EF_AUTH_PIN:
                return f"VERIFY while {self._ef_name()} is selected"
            return None
        if apdu.ins == INS_COMPUTE_SIGNATURE:
            if (apdu.cla, apdu.p1, apdu.p2) != (0x80, 0x00, 0x80) or not apdu.data:
                return f"COMPUTE DIGITAL SIGNATURE {apdu.header()} not allowed"
            if self._selected_ef != EF_AUTH_KEY:
                return f"COMPUTE DIGITAL SIGNATURE while {self._ef_name()} is selected"
            return None
        return f"command {apdu.header()} not allowed"

    def _select_reason(self, apdu: Apdu) -> str | None:
        if apdu.cla != 0x00:
            return f"SELECT {apdu.header()} not allowed"
        if apdu.p1 == 0x04:
            if apdu.p2 not in (0x0C, 0x00):
                return f"SELECT AID {apdu.header()} not allowed"
            if apdu.data in FORBIDDEN_APS:
                return f"AID {apdu.data.hex().upper()} (My Number AP)"
            if apdu.data != JPKI_AP:
                return f"AID {apdu.data.hex().upper()}"
            return None
        if apdu.p1 == 0x02:
            if apdu.p2 != 0x0C or len(apdu.data) != 2 or apdu.le is not None:
                return f"SELECT EF {apdu.header()} not allowed"
            fid = int.from_bytes(apdu.data, "big")
            if fid not in ALLOWED_EFS:
                return f"EF {fid:04X}"
            if not self._ap_selected:
                return f"EF {fid:04X} selected before the JPKI AP"
            return None
        return f"SELECT {apdu.header()} not allowed"

    def _ef_name(self) -> str:
        return "no EF" if self._selected_ef is None else f"EF {self._selected_ef:04X}"

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        reason = self._refuse_reason(apdu)
        if reason is not None:
            recorded = _mask_pin(apdu)
            self.refused.append(recorded)
            log.warning("refused APDU %s: %s", hex_bytes(recorded[:4]), reason)
            if self.on_refused is not None:
                try:
                    self.on_refused(recorded)
                except Exception:
                    log.exception("on_refused callback failed")
            raise ForbiddenApdu(recorded, reason)
        try:
            data, sw = self.inner.transmit(apdu)
        except CardRemoved:
            self._ap_selected = False
            self._selected_ef = None
            raise
        if apdu[1] == INS_SELECT:
            self._track_select(apdu, sw)
        return data, sw

    def _track_select(self, raw: bytes, sw: int) -> None:
        ok = sw == StatusWord.OK
        if raw[2] == 0x04:
            self._ap_selected = ok
            self._selected_ef = None
        else:
            self._selected_ef = int.from_bytes(raw[5:7], "big") if ok else None

    def close(self) -> None:
        self.inner.close()
