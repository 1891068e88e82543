"""How the PC/SC backend names a failed transmit: the card gone, the reader service gone, or a
reader error (pyscard's calls replaced, so every code can be produced on demand)."""

from __future__ import annotations

from typing import Any

import pytest

from reader import pcsc
from reader.errors import CardRemoved, ReaderError, ReaderUnavailable

SECURITY_VIOLATION = 0x8010006A  # what a dying pcscd answered a transmit in flight with


def connection(
    monkeypatch: pytest.MonkeyPatch, transmit_hr: int, status_hr: int
) -> pcsc.PcscConnection:
    def transmit(hcard: Any, pci: Any, apdu: list[int]) -> tuple[int, list[int]]:
        return transmit_hr, []

    def status(hcard: Any) -> tuple[int, str, int, int, list[int]]:
        return status_hr, "Virtual PCD 00 00", 0, 0, []

    monkeypatch.setattr(pcsc.scard, "SCardTransmit", transmit)
    monkeypatch.setattr(pcsc.scard, "SCardStatus", status)
    return pcsc.PcscConnection(object(), pcsc.scard.SCARD_PROTOCOL_T1, b"", "Virtual PCD 00 00")


def test_an_odd_code_from_a_dying_pcscd_is_the_reader_service_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = connection(monkeypatch, SECURITY_VIOLATION, pcsc.scard.SCARD_E_NO_SERVICE)
    with pytest.raises(ReaderUnavailable):
        conn.transmit(bytes.fromhex("00A4040C0AD392F000260100000001"))


def test_the_same_code_with_pcscd_alive_stays_a_reader_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = connection(monkeypatch, SECURITY_VIOLATION, pcsc.scard.SCARD_S_SUCCESS)
    with pytest.raises(ReaderError) as failed:
        conn.transmit(bytes.fromhex("00A4040C0AD392F000260100000001"))
    assert not isinstance(failed.value, ReaderUnavailable | CardRemoved)


def test_a_removed_card_is_a_removed_card(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connection(monkeypatch, pcsc.scard.SCARD_W_REMOVED_CARD, pcsc.scard.SCARD_E_NO_SERVICE)
    with pytest.raises(CardRemoved):
        conn.transmit(bytes.fromhex("00A4040C0AD392F000260100000001"))
