"""The one interface a kind of card reader implements, and the table that names each kind.

PC/SC (reader/pcsc.py) is the only kind today. Another (a second PC/SC profile, NFC on a
phone, a test double) is one new module exposing `backend()` plus one line in BACKENDS; the
`reader_backend` setting then accepts its name. Modules are imported only when chosen, so a
box that does not use a backend never loads its library (pyscard for PC/SC).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol

from reader.connection import CardConnection
from reader.events import ReaderEvent

# Setting value → the module whose `backend()` builds it.
BACKENDS: dict[str, str] = {
    "pcsc": "reader.pcsc",
}


class CardReaders(Protocol):
    """One handle on the readers: list them, look for a card, connect to it. Each thread that
    uses readers (the visit flow, the status page) opens its own."""

    def list_readers(self) -> list[str]: ...

    def card_present(self, reader: str) -> bool: ...

    def connect(self, reader: str) -> CardConnection:
        """An exclusive connection to the card on `reader` (CardRemoved, NoReader, ...)."""
        ...

    def close(self) -> None: ...


class ReaderWatch(Protocol):
    """Reports cards arriving and leaving, and the reader service going and coming back,
    as ReaderEvents on a thread of its own between start() and stop()."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class ReaderBackend(Protocol):
    def open_readers(self) -> CardReaders: ...

    def watch(self, on_event: Callable[[ReaderEvent], None], reader_filter: str) -> ReaderWatch:
        """Readers whose name contains `reader_filter` (all when empty), not yet started."""
        ...


def load_backend(name: str) -> ReaderBackend:
    """The backend the `reader_backend` setting names (KeyError for a name not in BACKENDS:
    the setting refuses those before anything is built)."""
    module = importlib.import_module(BACKENDS[name])
    build: Callable[[], ReaderBackend] = module.backend
    return build()
