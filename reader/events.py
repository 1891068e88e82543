"""What the reader monitor reports, as typed events."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias


@dataclass(frozen=True)
class CardInserted:
    reader: str
    atr: bytes


class RemovalCause(StrEnum):
    TAKEN = "taken"  # the card left the reader (or the reader left the machine)
    SERVICE_LOST = "service_lost"  # pcscd went away: the card may well still be there


@dataclass(frozen=True)
class CardRemovedEvent:
    reader: str
    cause: RemovalCause = RemovalCause.TAKEN


@dataclass(frozen=True)
class PcscDown:
    reason: str


@dataclass(frozen=True)
class PcscUp:
    """PC/SC is reachable; also re-sent whenever the set of watched readers changes."""

    readers: tuple[str, ...]


ReaderEvent: TypeAlias = CardInserted | CardRemovedEvent | PcscDown | PcscUp
