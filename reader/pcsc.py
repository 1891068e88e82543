"""PC/SC backend (pcsc-lite through pyscard's low-level smartcard.scard API).

The only module that imports pyscard. Owns contexts, exclusive card access, the mapping of
PC/SC error codes onto reader errors, and the monitor thread that supervises pcscd."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from smartcard import scard

from reader.errors import CardRemoved, NoReader, ReaderError, ReaderUnavailable
from reader.events import (
    CardInserted,
    CardRemovedEvent,
    PcscDown,
    PcscUp,
    ReaderEvent,
    RemovalCause,
)
from reader.traffic import COMMAND, RESPONSE, log_traffic

log = logging.getLogger(__name__)

PNP_READER = "\\\\?PnP?\\Notification"
# pcscd may not notice a card that arrives within ~0.5 s of the previous one leaving
# (DOMAIN.md §6): whoever places cards one after another waits this long after "empty".
REINSERT_GAP_S = 0.6


def _code(hr: Any) -> int:
    # pyscard returns codes as unsigned or signed ints depending on platform.
    return int(hr) & 0xFFFFFFFF


_OK = 0
_TIMEOUT = _code(scard.SCARD_E_TIMEOUT)
_CANCELLED = _code(scard.SCARD_E_CANCELLED)
_NO_READERS = _code(scard.SCARD_E_NO_READERS_AVAILABLE)
_UNKNOWN_READER = _code(scard.SCARD_E_UNKNOWN_READER)
_SHARING_VIOLATION = _code(scard.SCARD_E_SHARING_VIOLATION)
# The service is gone: the context must be re-established.
_SERVICE_GONE = frozenset(
    _code(c)
    for c in (
        scard.SCARD_E_NO_SERVICE,
        scard.SCARD_E_SERVICE_STOPPED,
        scard.SCARD_F_COMM_ERROR,
        scard.SCARD_E_INVALID_HANDLE,
    )
)
# The card (or its reader) went away or was reset under us.
_CARD_GONE = frozenset(
    _code(c)
    for c in (
        scard.SCARD_W_REMOVED_CARD,
        scard.SCARD_E_NO_SMARTCARD,
        scard.SCARD_W_RESET_CARD,
        scard.SCARD_E_READER_UNAVAILABLE,
        scard.SCARD_W_UNPOWERED_CARD,
        scard.SCARD_W_UNRESPONSIVE_CARD,
        scard.SCARD_E_UNKNOWN_READER,
        scard.SCARD_E_NOT_TRANSACTED,
        scard.SCARD_E_COMM_DATA_LOST,
    )
)


def describe_hr(hr: Any) -> str:
    return f"{_code(hr):08X} {scard.SCardGetErrorMessage(hr)}"


def _pcsc_failure(hr: Any, what: str) -> ReaderError:
    text = describe_hr(hr)
    return ReaderError(
        f"カードリーダーの操作に失敗しました: {what} {text}", f"{what} failed: {text}"
    )


class PcscConnection:
    """An exclusive connection to one card (T=1 or T=0); implements CardConnection."""

    def __init__(self, hcard: Any, protocol: int, atr: bytes, reader: str) -> None:
        self._hcard: Any = hcard
        self.protocol = protocol
        self.atr = atr
        self.reader = reader
        self._pci = (
            scard.SCARD_PCI_T0 if protocol == scard.SCARD_PROTOCOL_T0 else scard.SCARD_PCI_T1
        )

    def _exchange(self, apdu: bytes) -> tuple[bytes, int]:
        if self._hcard is None:
            raise CardRemoved()
        hr, response = scard.SCardTransmit(self._hcard, self._pci, list(apdu))
        code = _code(hr)
        if code in _CARD_GONE:
            raise CardRemoved()
        if code in _SERVICE_GONE or (code != _OK and self._service_gone()):
            raise ReaderUnavailable(describe_hr(hr))
        if code != _OK:
            raise _pcsc_failure(hr, "SCardTransmit")
        if len(response) < 2:
            # No status word at all: the card went away mid-command. vpcd reports a pulled
            # card this way (success, empty response) before pcscd has noticed the removal.
            log.debug(
                "SCardTransmit returned %d bytes; treating the card as removed", len(response)
            )
            raise CardRemoved()
        raw = bytes(response)
        return raw[:-2], int.from_bytes(raw[-2:], "big")

    def _service_gone(self) -> bool:
        """After an unexpected transmit error: is pcscd itself gone? A dying pcscd answers the
        transmit in flight with odd codes (8010006A "access denied" was seen), so ask it again."""
        result = scard.SCardStatus(self._hcard)
        return _code(result[0]) in _SERVICE_GONE

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        log_traffic(log, COMMAND, apdu)
        data, sw = self._exchange(apdu)
        # T=0 cards announce outstanding response bytes with 61xx; fetch them.
        while sw >> 8 == 0x61:
            more, sw = self._exchange(bytes((0x00, 0xC0, 0x00, 0x00, sw & 0xFF)))
            data += more
        log_traffic(log, RESPONSE, data + sw.to_bytes(2, "big"))
        return data, sw

    def close(self) -> None:
        hcard, self._hcard = self._hcard, None
        if hcard is None:
            return
        # Reset on the way out so the PIN-verified state never outlives the visit.
        hr = scard.SCardDisconnect(hcard, scard.SCARD_RESET_CARD)
        if _code(hr) != _OK:
            log.debug("SCardDisconnect: %s", describe_hr(hr))


class PcscReaders:
    """Lists readers and connects to cards; re-establishes its context after pcscd restarts."""

    def __init__(self) -> None:
        self._context: Any = None

    def _ctx(self) -> Any:
        if self._context is None:
            hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if _code(hr) != _OK:
                raise ReaderUnavailable(describe_hr(hr))
            self._context = context
        return self._context

    def _drop_context(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            scard.SCardReleaseContext(context)

    def _call(self, op: Callable[[Any], Any]) -> Any:
        """Run op(context); if the service went away, re-establish once and retry."""
        result = op(self._ctx())
        if _code(result[0]) in _SERVICE_GONE:
            self._drop_context()
            result = op(self._ctx())
            if _code(result[0]) in _SERVICE_GONE:
                self._drop_context()
                raise ReaderUnavailable(describe_hr(result[0]))
        return result

    def list_readers(self) -> list[str]:
        hr, readers = self._call(lambda ctx: scard.SCardListReaders(ctx, []))
        if _code(hr) == _NO_READERS:
            return []
        if _code(hr) != _OK:
            raise _pcsc_failure(hr, "SCardListReaders")
        return [str(r) for r in readers]

    def connect(self, reader: str) -> PcscConnection:
        if reader not in self.list_readers():
            raise NoReader(reader)
        hr, hcard, protocol = self._call(
            lambda ctx: scard.SCardConnect(
                ctx,
                reader,
                scard.SCARD_SHARE_EXCLUSIVE,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
        )
        code = _code(hr)
        if code == _UNKNOWN_READER:
            raise NoReader(reader)
        if code in _CARD_GONE:
            raise CardRemoved()
        if code == _SHARING_VIOLATION:
            raise ReaderError(
                "カードリーダーは他のプログラムが使用中です",
                "the reader is in use by another program",
            )
        if code != _OK:
            raise _pcsc_failure(hr, "SCardConnect")
        hr, _name, _state, _protocol, atr = scard.SCardStatus(hcard)
        if _code(hr) != _OK:
            scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
            raise CardRemoved()
        return PcscConnection(hcard, int(protocol), bytes(atr), reader)

    def card_present(self, reader: str) -> bool:
        hr, states = self._call(
            lambda ctx: scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        )
        code = _code(hr)
        if code == _UNKNOWN_READER:
            raise NoReader(reader)
        if code != _OK:
            raise _pcsc_failure(hr, "SCardGetStatusChange")
        return _card_in(int(states[0][1]))

    def wait_until_empty(self, reader: str, timeout: float = 5.0) -> bool:
        """Wait for the reader to report no card, then the re-insert gap; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.card_present(reader):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        time.sleep(REINSERT_GAP_S)
        return True

    def close(self) -> None:
        self._drop_context()


def _card_in(event_state: int) -> bool:
    # A mute card is physically there but cannot be talked to; it is not "inserted" yet.
    return bool(event_state & scard.SCARD_STATE_PRESENT) and not (
        event_state & scard.SCARD_STATE_MUTE
    )


class _ContextLost(Exception):
    pass


class ReaderMonitor:
    """Watches readers (name containing reader_filter, all if "") on a daemon thread and reports
    edges as ReaderEvents. When pcscd goes away it reports PcscDown, retries every ~1 s, then
    reports PcscUp; PcscUp is also sent at start and whenever the watched reader set changes."""

    RETRY_S = 1.0

    def __init__(
        self,
        on_event: Callable[[ReaderEvent], None],
        reader_filter: str = "",
        poll_ms: int = 500,
    ) -> None:
        self.on_event = on_event
        self.reader_filter = reader_filter
        self.poll_ms = poll_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._context: Any = None
        # reader -> (card in, pcsc-lite event counter); kept across context re-creation so a
        # recovered context does not report the same card twice.
        self._cards: dict[str, tuple[bool, int]] = {}
        self._announced: tuple[str, ...] | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="reader-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._context is not None:
                scard.SCardCancel(self._context)
        # stop() may be called from an on_event handler, i.e. on the monitor thread itself.
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=max(1.0, self.poll_ms / 1000 + 0.5))
            self._thread = None

    def _emit(self, event: ReaderEvent) -> None:
        try:
            self.on_event(event)
        except Exception:
            log.exception("reader event handler failed for %s", type(event).__name__)

    def _run(self) -> None:
        down = False
        while not self._stop.is_set():
            try:
                hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                if _code(hr) != _OK:
                    if not down:
                        self._lose_all(describe_hr(hr))
                        down = True
                    self._stop.wait(self.RETRY_S)
                    continue
                with self._lock:
                    self._context = context
                down = False
                self._watch(context)
            except _ContextLost as exc:
                self._lose_all(str(exc))
                down = True
                self._stop.wait(self.RETRY_S)
            except Exception as exc:
                # Unexpected answers (pcscd dying mid-call answers "access denied", say): the
                # card state is unknown, so say so, then re-create the context like any loss.
                log.exception("reader monitor failed; re-creating the PC/SC context")
                self._lose_all(str(exc))
                down = True
                self._stop.wait(self.RETRY_S)
            finally:
                with self._lock:
                    context, self._context = self._context, None
                if context is not None:
                    scard.SCardReleaseContext(context)

    def _lose_all(self, reason: str) -> None:
        # The service is gone, not (as far as anyone knows) the card: say so, so a visit ends
        # as "the reader service restarted" rather than "the card was removed".
        for reader, (card_in, _count) in sorted(self._cards.items()):
            if card_in:
                self._emit(CardRemovedEvent(reader, RemovalCause.SERVICE_LOST))
        self._cards.clear()
        self._announced = None
        log.warning("PC/SC unavailable: %s", reason)
        self._emit(PcscDown(reason))

    def _list(self, context: Any) -> list[str]:
        hr, readers = scard.SCardListReaders(context, [])
        code = _code(hr)
        if code == _NO_READERS:
            return []
        if code in _SERVICE_GONE:
            raise _ContextLost(describe_hr(hr))
        if code != _OK:
            raise _pcsc_failure(hr, "SCardListReaders")
        return [str(r) for r in readers if self.reader_filter in str(r)]

    def _set_readers(self, readers: list[str]) -> None:
        for gone in set(self._cards) - set(readers):
            if self._cards.pop(gone)[0]:
                self._emit(CardRemovedEvent(gone))
        current = tuple(readers)
        if current != self._announced:
            self._announced = current
            self._emit(PcscUp(current))

    def _watch(self, context: Any) -> None:
        readers = self._list(context)
        self._set_readers(readers)
        states = {r: scard.SCARD_STATE_UNAWARE for r in readers}
        pnp = scard.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            query = [(r, states[r]) for r in readers] + [(PNP_READER, pnp)]
            hr, result = scard.SCardGetStatusChange(context, self.poll_ms, query)
            code = _code(hr)
            if code in (_TIMEOUT, _CANCELLED):
                continue
            if code in _SERVICE_GONE:
                raise _ContextLost(describe_hr(hr))
            relist = code in (_UNKNOWN_READER, _code(scard.SCARD_E_READER_UNAVAILABLE))
            if code == _OK:
                for name, event, atr in result:
                    event = int(event)
                    if name == PNP_READER:
                        relist = relist or bool(event & scard.SCARD_STATE_CHANGED)
                        pnp = event & ~scard.SCARD_STATE_CHANGED
                        continue
                    states[name] = event & ~scard.SCARD_STATE_CHANGED
                    self._update(name, event, bytes(atr))
            elif not relist:
                raise _pcsc_failure(hr, "SCardGetStatusChange")
            if relist:
                readers = self._list(context)
                self._set_readers(readers)
                states = {r: states.get(r, scard.SCARD_STATE_UNAWARE) for r in readers}

    def _update(self, reader: str, event: int, atr: bytes) -> None:
        card_in = _card_in(event)
        count = (event >> 16) & 0xFFFF
        was_in, old_count = self._cards.get(reader, (False, count))
        self._cards[reader] = (card_in, count)
        if was_in and (not card_in or count != old_count):
            self._emit(CardRemovedEvent(reader))
            was_in = False
        if card_in and not was_in:
            self._emit(CardInserted(reader, atr))


class PcscBackend:
    """PC/SC as a reader backend (reader.backend.ReaderBackend)."""

    def open_readers(self) -> PcscReaders:
        return PcscReaders()

    def watch(self, on_event: Callable[[ReaderEvent], None], reader_filter: str) -> ReaderMonitor:
        return ReaderMonitor(on_event, reader_filter=reader_filter)


def backend() -> PcscBackend:
    """reader.backend.load_backend's entry point for "pcsc"."""
    return PcscBackend()
