"""The one interface protocol code talks to; backends and wrappers implement it."""

from __future__ import annotations

import time
from typing import Protocol


class CardConnection(Protocol):
    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send a command APDU; return (response data, status word)."""
        ...

    def close(self) -> None: ...


class TimedConnection:
    """Sums wall time spent inside transmit, to split card I/O from everything else."""

    def __init__(self, inner: CardConnection) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.count = 0

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        start = time.perf_counter()
        try:
            return self.inner.transmit(apdu)
        finally:
            self.seconds += time.perf_counter() - start
            self.count += 1

    def close(self) -> None:
        self.inner.close()
