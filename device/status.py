"""The appliance at a glance for the admin: readers, pcscd, central, clock, certificate, database,
recent errors. Each item is green, amber or red *and* says so in words.

`ok` is True (green: fine), None (amber: needs a look soon, or cannot be known) or False (red:
something does not work). The card presence of each reader comes from the ReaderStatus events
on the bus (the monitor publishes them), so the page never touches a card itself.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from device.clocktrust import ClockReading, ClockTrust, describe_seconds
from device.config import Config
from device.errors_log import RecentErrors
from device.events import EventBus, ReaderStatus
from device.jobs import RETENTION_HELD, RETENTION_REFUSED, last_retention_run
from reader.errors import ReaderError
from sync.central import CentralClient, CentralError
from sync.clock import JST, utc_now
from sync.store import Store

log = logging.getLogger(__name__)

CLOCK_WARN_S = 2.0  # more than the round-trip uncertainty: worth a look
CLOCK_BAD_S = 30.0  # cached answers' freshness and audit times are no longer trustworthy
CENTRAL_SLOW_MS = 2000.0
CERT_WARN_DAYS = 30
DISK_WARN_FREE_BYTES = 500 * 1024 * 1024
DISK_FULL_FREE_BYTES = 1024 * 1024  # red even without a reserve: the next write may fail
ERRORS_SHOWN = 10
RECENT_ERROR_WINDOW = timedelta(hours=1)  # red while an ERROR is this fresh
WARNING_WINDOW = timedelta(hours=24)  # amber while anything is this fresh
TIMEDATECTL = ("timedatectl", "show", "-p", "NTPSynchronized", "--value")


@dataclass(frozen=True)
class StatusItem:
    key: str
    ok: bool | None  # True green, None amber, False red
    label_ja: str
    label_en: str
    value: str
    detail: str = ""

    @property
    def level(self) -> str:
        """ "ok", "warn" or "bad": the CSS class and the word shown beside the colour."""
        return "ok" if self.ok is True else "bad" if self.ok is False else "warn"


def ntp_synchronized() -> bool | None:
    """systemd's view of NTP; None when it cannot tell (no systemd, a container, a timeout)."""
    try:
        done = subprocess.run(TIMEDATECTL, capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    answer = done.stdout.strip()
    if done.returncode != 0 or answer not in ("yes", "no"):
        return None
    return answer == "yes"


class ApplianceStatus:
    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        central: CentralClient,
        bus: EventBus,
        list_readers: Callable[[], list[str]],
        errors: RecentErrors,
        clock: Callable[[], datetime] = utc_now,
        ntp_synchronized: Callable[[], bool | None] = ntp_synchronized,
        clock_trust: ClockTrust | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._central = central
        self._list_readers = list_readers
        self._errors = errors
        self._clock = clock
        # The appliance passes the one ClockTrust its jobs use (jumps seen there show here).
        self._trust = clock_trust or ClockTrust(
            tolerance_s=CLOCK_BAD_S,
            wall=clock,
            synchronised=ntp_synchronized,
            central_time=lambda: central.server_time(),
        )
        self._readers: dict[str, bool] = {}  # reader → card present, as last published
        self._lock = threading.Lock()
        # A thread of its own drains the bus: a queue left for the page to drain would fill up
        # on a day nobody looks and then drop the very reader events this page shows.
        self._subscription = bus.subscribe()
        self._closed = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="status-bus", daemon=True)
        self._listener.start()

    def close(self) -> None:
        """Stop listening; the listener thread ends at its next wake-up (≤ 0.5 s), unwaited."""
        self._closed.set()
        self._subscription.close()

    def _listen(self) -> None:
        while not self._closed.is_set():
            event = self._subscription.get(0.5)
            if isinstance(event, ReaderStatus):
                self.note_reader(event)

    def note_reader(self, event: ReaderStatus) -> None:
        with self._lock:
            if not event.available and not event.reader:  # pcscd went away: nothing is known
                self._readers.clear()
            elif event.available:
                self._readers[event.reader] = event.card_present
            else:
                self._readers.pop(event.reader, None)

    def collect(self) -> list[StatusItem]:
        readers, pcsc = self._pcsc_items()
        central, clock = self._central_items()
        return [
            readers,
            pcsc,
            central,
            clock,
            self._certificate_item(),
            self._database_item(),
            self._errors_item(),
            self._retention_item(),
        ]

    # -- items ------------------------------------------------------------------------
    def _pcsc_items(self) -> tuple[StatusItem, StatusItem]:
        try:
            names = self._list_readers()
        except ReaderError as exc:
            message = str(exc)[:200]
            return (
                StatusItem(
                    "readers", False, "カードリーダー", "Card readers", "不明 / unknown", message
                ),
                StatusItem("pcscd", False, "PC/SC (pcscd)", "PC/SC (pcscd)", _DOWN, message),
            )
        pcsc = StatusItem("pcscd", True, "PC/SC (pcscd)", "PC/SC (pcscd)", _UP)
        with self._lock:
            cards = dict(self._readers)
        wanted = self._config.reader
        lines = []
        for name in names:
            present = cards.get(name)
            card = (
                "不明 / unknown"
                if present is None
                else "カードあり / card present"
                if present
                else "カードなし / no card"
            )
            lines.append(f"{name}: {card}")
        if not names:
            return StatusItem(
                "readers", False, "カードリーダー", "Card readers", "未接続 / none connected"
            ), pcsc
        value = f"{len(names)} 台 / {len(names)} connected"
        if wanted and not any(wanted in name for name in names):
            detail = f"設定のリーダー {wanted!r} がありません / the configured reader is missing"
            return StatusItem(
                "readers",
                False,
                "カードリーダー",
                "Card readers",
                value,
                "\n".join([detail, *lines]),
            ), pcsc
        return StatusItem(
            "readers", True, "カードリーダー", "Card readers", value, "\n".join(lines)
        ), pcsc

    def _central_items(self) -> tuple[StatusItem, StatusItem]:
        try:
            round_trip_ms = self._central.health() * 1000
        except CentralError as exc:
            message = str(exc)[:300]
            return (
                StatusItem(
                    "central", False, "中央サービス", "Central service", _UNREACHABLE, message
                ),
                self._clock_item(self._trust.measure(ask_central=False)),
            )
        central = StatusItem(
            "central",
            True if round_trip_ms <= CENTRAL_SLOW_MS else None,
            "中央サービス",
            "Central service",
            f"応答あり {round_trip_ms:.0f} ms / reachable, {round_trip_ms:.0f} ms round trip",
        )
        return central, self._clock_item(self._trust.measure())

    def _clock_item(self, reading: ClockReading) -> StatusItem:
        ntp_text = {
            True: "NTP 同期済み / NTP synchronised",
            False: "NTP 未同期 / NTP not synchronised",
            None: "NTP 状態不明 / NTP state unknown",
        }[reading.synchronised]
        offset_s = reading.offset_s  # this box minus the central: positive = this box is ahead
        if offset_s is None:
            ok: bool | None = None
            value = "ずれ不明 / offset unknown"
        else:
            size = abs(offset_s)
            ok = True if size <= CLOCK_WARN_S else None if size <= reading.tolerance_s else False
            ahead = offset_s >= 0
            value = (
                f"中央より{describe_seconds(size, 'ja')[1:]}{'進み' if ahead else '遅れ'}"
                f" ({offset_s:+.1f} 秒) / {describe_seconds(size)[1:]} "
                f"{'ahead of' if ahead else 'behind'} the central ({offset_s:+.1f} s)"
            )
        if ok is True and reading.synchronised is not True:
            ok = None
        jumps = self._trust.recent_jumps()
        if jumps and ok is True:
            ok = None
        if reading.unconfirmed_jump is not None:
            ok = False
        lines = [ntp_text]
        if reading.central_problem:
            lines.append(reading.central_problem)
        lines += [
            f"時刻の跳び {describe_seconds(j.seconds, 'ja')} / "
            f"clock jump {describe_seconds(j.seconds)} → "
            f"{j.at.astimezone(JST):%Y-%m-%d %H:%M:%S} JST"
            for j in jumps
        ]
        if not reading.trusted:
            lines += list(reading.reasons)
            lines.append(
                "時刻が信頼できるまで保存期間の削除は保留します。NTP と時刻設定を確認してください"
                " / retention purges wait until the clock is trusted: check NTP and the time "
                "settings"
            )
        return StatusItem("clock", ok, "時刻", "Clock", value, "\n".join(lines))

    def _retention_item(self) -> StatusItem:
        """The newest retention run: purged (or nothing to do), held by the clock, or refused."""
        last = last_retention_run(self._store)
        label = ("保存期間の削除", "Retention purge")
        if last is None:
            return StatusItem("retention", True, *label, "削除対象なし / nothing purged yet")
        when = _audit_time(last.at)
        if last.action == RETENTION_REFUSED:
            return StatusItem(
                "retention",
                False,
                *label,
                f"中止 {when} / refused {when}",
                "削除すると多すぎる、または前回より新しい行が消えるため何も削除していません。"
                "時刻を確認し、意図した削除なら retention_max_share を一時的に上げてください"
                " / nothing was deleted: the run would have deleted too much or rows newer than "
                f"the last run saw. Check the clock; if intended, raise retention_max_share for "
                f"one run\n{last.detail}",
            )
        if last.action == RETENTION_HELD:
            return StatusItem(
                "retention",
                None,
                *label,
                f"保留 {when} / held {when}",
                f"時刻が信頼できないため削除を保留しました / held: the clock is not trusted\n"
                f"{last.detail}",
            )
        return StatusItem("retention", True, *label, f"実行 {when} / ran {when}", last.detail)

    def _certificate_item(self) -> StatusItem:
        path = self._config.device_cert
        try:
            cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            return StatusItem(
                "certificate",
                False,
                "端末証明書",
                "Device certificate",
                "読めません / cannot be read",
                f"{path}: {type(exc).__name__}",
            )
        expires = cert.not_valid_after_utc
        days = (expires - self._clock()).total_seconds() / 86400
        days_left = int(days) if days >= 0 else -1
        ok: bool | None = False if days < 0 else None if days < CERT_WARN_DAYS else True
        value = "期限切れ / expired" if days < 0 else f"残り {days_left} 日 / {days_left} days left"
        detail = (
            f"{cert.subject.rfc4514_string()}\n"
            f"有効期限 / expires {expires.astimezone(JST):%Y-%m-%d %H:%M} JST"
        )
        return StatusItem("certificate", ok, "端末証明書", "Device certificate", value, detail)

    def _database_item(self) -> StatusItem:
        path = self._config.database_path
        try:
            self._store.schema_version  # noqa: B018 - the query is the check
            size = _size(path) + _size(Path(f"{path}-wal"))
            free = shutil.disk_usage(path.parent).free
        except Exception as exc:  # noqa: BLE001 - any failure here is the thing to report
            return StatusItem(
                "database", False, "データベース", "Database", "エラー / error", type(exc).__name__
            )
        ok: bool | None = True if free >= DISK_WARN_FREE_BYTES else None
        value = f"{_megabytes(size)} (DB + WAL)"
        detail = f"空き容量 / free space: {_megabytes(free)}"
        disk = self._store.disk_state()
        if disk is not None and disk.reserve_bytes > 0 and not disk.reserve_held:
            # The reserve is in use (or could not be made): the next answers may not fit.
            ok = False
            value = (
                f"ディスクがほぼ満杯: 空き {_megabytes(free)} / disk nearly full: "
                f"{_megabytes(free)} free"
            )
            detail = (
                f"予備領域 {_megabytes(disk.reserve_bytes)} を使用中です。古いログや不要な"
                "ファイルを削除して空きを確保してください。空きができると予備領域は自動で"
                "作り直されます / The "
                f"{_megabytes(disk.reserve_bytes)} reserve is in use. Free space (old logs, "
                "unneeded files); the reserve is made again by itself once there is room\n"
                f"データベース / database: {_megabytes(size)} (DB + WAL)"
            )
        elif free < DISK_FULL_FREE_BYTES:
            ok = False
            value = f"ディスクが満杯: 空き {_megabytes(free)} / disk full: {_megabytes(free)} free"
        return StatusItem("database", ok, "データベース", "Database", value, detail)

    def _errors_item(self) -> StatusItem:
        records = self._errors.records()
        now = self._clock()
        recent_error = any(
            r.level in ("ERROR", "CRITICAL") and now - r.at <= RECENT_ERROR_WINDOW for r in records
        )
        recent_any = any(now - r.at <= WARNING_WINDOW for r in records)
        ok = False if recent_error else None if recent_any else True
        lines = [
            f"{r.at.astimezone(JST):%Y-%m-%d %H:%M:%S} {r.level} {r.logger}: {r.message}"
            for r in records[:ERRORS_SHOWN]
        ]
        value = f"{len(records)} 件 / {len(records)} records" if records else "なし / none"
        return StatusItem(
            "errors",
            ok,
            "最近の警告・エラー",
            "Recent warnings and errors",
            value,
            "\n".join(lines),
        )


_UP = "応答あり / running"
_DOWN = "応答なし / not running"
_UNREACHABLE = "接続できません / unreachable"


def _audit_time(at: str) -> str:
    try:
        return f"{datetime.fromisoformat(at).astimezone(JST):%Y-%m-%d %H:%M} JST"
    except ValueError:
        return at[:32]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
