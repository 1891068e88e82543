"""What the reader monitor reports, as typed events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class CardInserted:
    reader: str
    atr: bytes


@dataclass(frozen=True)
class CardRemovedEvent:
    reader: str


@dataclass(frozen=True)
class PcscDown:
    reason: str


@dataclass(frozen=True)
class PcscUp:
    """PC/SC is reachable; also re-sent whenever the set of watched readers changes."""

    readers: tuple[str, ...]


ReaderEvent: TypeAlias = CardInserted | CardRemovedEvent | PcscDown | PcscUp
