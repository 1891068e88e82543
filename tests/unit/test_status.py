"""device/status.py with fakes: each item's colour and words; the recent-errors ring."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from device.config import Config, load_config
from device.errors_log import RecentErrors
from device.events import EventBus, ReaderStatus
from device.signal import PeripheralState
from device.status import ApplianceStatus, ntp_synchronized
from reader.errors import ReaderUnavailable
from sim.pki import JPKI_ROOT_NAME
from sync.central import CentralClient, CentralUnavailable
from sync.clock import JST, utc_now
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from web.status_rows import StatusRow, status_row

NOW = datetime(2026, 4, 1, 1, 30, tzinfo=UTC)
READER = "Virtual PCD 00 00"


def certificate(path: Path, not_after: datetime) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device 1312345670")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=400))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    path.write_bytes(cert.public_bytes(Encoding.PEM))
    return path


class FakeCentral:
    def __init__(self, *, up: bool = True, offset_s: float = 0.0, rtt_s: float = 0.012) -> None:
        self.up = up
        self.offset = timedelta(seconds=offset_s)
        self.rtt_s = rtt_s
        self.calls = 0

    def health(self) -> float:
        self.calls += 1
        if not self.up:
            raise CentralUnavailable("中央サービスに接続できません / central service unreachable")
        return self.rtt_s

    def server_time(self) -> datetime:
        self.calls += 1
        if not self.up:
            raise CentralUnavailable("unreachable")
        return NOW + self.offset


class FakeReaders:
    def __init__(self, names: list[str] | None = None) -> None:
        self.names = names

    def __call__(self) -> list[str]:
        if self.names is None:
            raise ReaderUnavailable("pcscd is not running")
        return list(self.names)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    yield s
    s.close()


def jpki_root(path: Path, not_after: datetime) -> Path:
    """A self-signed CA under the JPKI root's name (EC: the status page reads only its dates)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(JPKI_ROOT_NAME)
        .issuer_name(JPKI_ROOT_NAME)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(NOW - timedelta(days=3650))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    path.write_bytes(cert.public_bytes(Encoding.PEM))
    return path


def make_config(
    tmp_path: Path, *, cert_days: float = 200, reader: str = "", root_days: float | None = 3650
) -> Config:
    """root_days None: no jpki_root_file."""
    cert = certificate(tmp_path / "device.pem", NOW + timedelta(days=cert_days))
    root = (
        ""
        if root_days is None
        else jpki_root(tmp_path / "jpki-root.pem", NOW + timedelta(days=root_days))
    )
    return load_config(
        environ={},
        overrides={
            "data_dir": tmp_path,
            "device_cert": cert,
            "reader": reader,
            "jpki_root_file": root,
        },
    )


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


def status_of(
    tmp_path: Path,
    store: Store,
    bus: EventBus,
    *,
    central: FakeCentral | None = None,
    readers: FakeReaders | None = None,
    errors: RecentErrors | None = None,
    ntp: bool | None = True,
    config: Config | None = None,
    clock: Callable[[], datetime] = lambda: NOW,
    peripherals: Callable[[], list[PeripheralState]] = list,
) -> ApplianceStatus:
    return ApplianceStatus(
        config=config or make_config(tmp_path),
        store=store,
        central=cast(CentralClient, central or FakeCentral()),
        bus=bus,
        list_readers=readers or FakeReaders([READER]),
        errors=errors or RecentErrors(),
        clock=clock,
        ntp_synchronized=lambda: ntp,
        peripherals=peripherals,
    )


def items(status: ApplianceStatus) -> dict[str, StatusRow]:
    """Each item as the admin page shows it, by key."""
    try:
        return {row.key: row for row in map(status_row, status.collect())}
    finally:
        status.close()


def test_all_green(tmp_path: Path, store: Store, bus: EventBus) -> None:
    found = items(status_of(tmp_path, store, bus))
    assert list(found) == [
        "readers",
        "pcscd",
        "central",
        "clock",
        "certificate",
        "jpki_root",
        "export",
        "database",
        "errors",
        "retention",
        "peripherals",
    ]
    assert "書き出さない設定" in found["export"].value  # off: nothing to write
    assert all(item.ok is True for item in found.values()), found
    assert all(item.level == "ok" for item in found.values())
    assert "12 ms" in found["central"].value
    assert "+0.0" in found["clock"].value and "NTP 同期済み" in found["clock"].detail
    assert "device 1312345670" in found["certificate"].detail
    assert "200" in found["certificate"].value
    assert "MB" in found["database"].value
    assert found["errors"].value == "なし / none"


def test_face_files_waiting_for_a_folder_that_is_gone_are_red_with_what_to_do(
    tmp_path: Path, store: Store, bus: EventBus
) -> None:
    folder = tmp_path / "face"
    config = replace(make_config(tmp_path), export_dir=folder)
    found = items(status_of(tmp_path, store, bus, config=config))["export"]
    assert found.ok is False and str(folder) in found.detail  # not there: red before any file
    folder.mkdir()
    found = items(status_of(tmp_path, store, bus, config=config))["export"]
    assert found.ok is True and "0 件書き出し済み" in found.value


def test_in_folders_mode_the_terminals_folders_are_checked_without_asking_anything(
    tmp_path: Path, store: Store, bus: EventBus
) -> None:
    root = tmp_path / "terminal"
    config = replace(make_config(tmp_path), central_mode="folders", terminal_root=root)
    central = FakeCentral()
    found = items(status_of(tmp_path, store, bus, config=config, central=central))["central"]
    assert found.ok is False and str(root / "req") in found.detail
    for sub in ("req", "res", "face", "trash"):
        (root / sub).mkdir(parents=True)
    found = items(status_of(tmp_path, store, bus, config=config, central=central))["central"]
    assert found.ok is True and str(root) in found.value
    assert central.calls == 0  # a page view sends nothing to the national system


def test_central_down_is_red_and_the_clock_unknown(
    tmp_path: Path, store: Store, bus: EventBus
) -> None:
    found = items(status_of(tmp_path, store, bus, central=FakeCentral(up=False)))
    assert found["central"].ok is False and found["central"].level == "bad"
    assert "unreachable" in found["central"].value
    assert "unreachable" in found["central"].detail
    assert found["clock"].ok is None and "unknown" in found["clock"].value


def test_certificate_expiring_is_amber_expired_red(
    tmp_path: Path, store: Store, bus: EventBus
) -> None:
    soon = items(status_of(tmp_path, store, bus, config=make_config(tmp_path, cert_days=12.5)))
    assert soon["certificate"].ok is None and soon["certificate"].level == "warn"
    assert "12 days left" in soon["certificate"].value
    gone = items(status_of(tmp_path, store, bus, config=make_config(tmp_path, cert_days=-1)))
    assert gone["certificate"].ok is False and "expired" in gone["certificate"].value
    missing = load_config(
        environ={}, overrides={"data_dir": tmp_path, "device_cert": tmp_path / "absent.pem"}
    )
    lost = items(status_of(tmp_path, store, bus, config=missing))
    assert lost["certificate"].ok is False and "cannot be read" in lost["certificate"].value


def test_without_a_jpki_root_the_admin_is_told_what_to_set(
    tmp_path: Path, store: Store, bus: EventBus
) -> None:
    config = make_config(tmp_path, root_days=None)
    found = items(status_of(tmp_path, store, bus, config=config))["jpki_root"]
    assert found.ok is None and found.level == "warn"
    assert found.value == "未設定 / not configured"
    assert "オフライン時のカード確認にはJPKI ルート証明書の設定が必要です" in found.detail
    assert "jpki_root_file" in found.detail and "restart" in found.detail


@pytest.mark.parametrize(
    ("root_days", "ok", "shown"),
    [(3650, True, "3650 days left"), (89.5, None, "89 days left"), (-1, False, "expired")],
)
def test_the_jpki_root_shows_its_expiry(
    tmp_path: Path,
    store: Store,
    bus: EventBus,
    root_days: float,
    ok: bool | None,
    shown: str,
) -> None:
    config = make_config(tmp_path, root_days=root_days)
    found = items(status_of(tmp_path, store, bus, config=config))["jpki_root"]
    assert found.ok is ok and shown in found.value
    assert "JPKI for user authentication" in found.detail
    expires = NOW + timedelta(days=root_days)
    assert f"expires {expires.astimezone(JST):%Y-%m-%d %H:%M} JST" in found.detail


def test_with_two_jpki_roots_the_newer_one_decides(
    tmp_path: Path, store: Store, bus: EventBus
) -> None:
    # The generations overlap: the older one lapsing is no news while the newer one holds.
    config = make_config(tmp_path, root_days=-1)
    old = config.jpki_root_file.read_bytes()
    newer = jpki_root(tmp_path / "newer.pem", NOW + timedelta(days=2000)).read_bytes()
    config.jpki_root_file.write_bytes(old + newer)
    found = items(status_of(tmp_path, store, bus, config=config))["jpki_root"]
    assert found.ok is True and "2000 days left" in found.value
    assert found.detail.count("expires") == 2


def test_a_jpki_root_file_broken_since_the_start_is_red(
    tmp_path: Path, store: Store, bus: EventBus
) -> None:
    config = make_config(tmp_path)
    config.jpki_root_file.write_text("not a certificate")
    found = items(status_of(tmp_path, store, bus, config=config))["jpki_root"]
    assert found.ok is False and "cannot be read" in found.value
    assert "is not a certificate" in found.detail


@pytest.mark.parametrize(
    ("offset", "ntp", "ok"),
    [
        (0.5, True, True),
        (-5.0, True, None),
        (120.0, True, False),
        (0.1, False, None),
        (0, None, None),
    ],
)
def test_clock_offset_and_ntp(
    tmp_path: Path, store: Store, bus: EventBus, offset: float, ntp: bool | None, ok: bool | None
) -> None:
    found = items(status_of(tmp_path, store, bus, central=FakeCentral(offset_s=offset), ntp=ntp))
    assert found["clock"].ok is ok
    # FakeCentral's offset is the central ahead of this box: the box is that much behind.
    assert f"{-offset:+.1f} s" in found["clock"].value


def test_a_box_ahead_of_the_central_shows_a_positive_offset(
    tmp_path: Path, store: Store, bus: EventBus
) -> None:
    """The sign reads "this box minus the central", as the words beside it say."""
    ahead = items(status_of(tmp_path, store, bus, central=FakeCentral(offset_s=-3.0)))["clock"]
    assert "(+3.0 s)" in ahead.value and "ahead of the central" in ahead.value
    assert "中央より3.0秒進み" in ahead.value
    behind = items(status_of(tmp_path, store, bus, central=FakeCentral(offset_s=3.0)))["clock"]
    assert "(-3.0 s)" in behind.value and "behind the central" in behind.value
    year = items(status_of(tmp_path, store, bus, central=FakeCentral(offset_s=-365 * 86400.0)))
    assert year["clock"].ok is False and "365 days ahead" in year["clock"].value
    assert "retention purges wait" in year["clock"].detail


def test_pcscd_down_is_red(tmp_path: Path, store: Store, bus: EventBus) -> None:
    found = items(status_of(tmp_path, store, bus, readers=FakeReaders(None)))
    assert found["pcscd"].ok is False and "not running" in found["pcscd"].value
    assert found["readers"].ok is False


def test_readers_and_card_presence_from_the_bus(
    tmp_path: Path, store: Store, bus: EventBus
) -> None:
    other = "Virtual PCD 00 01"
    status = status_of(tmp_path, store, bus, readers=FakeReaders([READER, other]))
    try:
        bus.publish(ReaderStatus(READER, True, True))
        bus.publish(ReaderStatus(other, True, False))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            detail = status_row(status.collect()[0]).detail
            if "card present" in detail and "no card" in detail:
                break
            time.sleep(0.02)
        row = status_row(status.collect()[0])
        assert f"{READER}: カードあり" in row.detail_in("ja")
        assert f"{other}: カードなし" in row.detail_in("ja")
        assert "card" not in row.detail_in("ja")  # the Japanese page says it in Japanese only
        assert f"{READER}: card present" in row.detail_in("en")
        bus.publish(ReaderStatus("", False, False))  # pcscd went away: presence unknown
        while (
            time.monotonic() < deadline and "card present" in status_row(status.collect()[0]).detail
        ):
            time.sleep(0.02)
        assert "unknown" in status_row(status.collect()[0]).detail
    finally:
        status.close()


def test_configured_reader_missing_is_red(tmp_path: Path, store: Store, bus: EventBus) -> None:
    config = make_config(tmp_path, reader="SONY")
    found = items(status_of(tmp_path, store, bus, config=config))
    assert found["readers"].ok is False and "SONY" in found["readers"].detail
    none = items(status_of(tmp_path, store, bus, readers=FakeReaders([])))
    assert none["readers"].ok is False


def test_recent_errors_colour_the_item(tmp_path: Path, store: Store, bus: EventBus) -> None:
    errors = RecentErrors(capacity=3)
    logger = logging.getLogger("test.status.errors")
    logger.propagate = False
    errors.install(logger)
    try:
        logger.warning("central slow: %d ms", 2500)
        # logging stamps records with the wall clock: the page must read the same one here
        warned = items(status_of(tmp_path, store, bus, errors=errors, clock=utc_now))["errors"]
        assert warned.ok is None  # a fresh warning: amber
        assert "WARNING test.status.errors: central slow: 2500 ms" in warned.detail
        try:
            raise OSError("disk")
        except OSError:
            logger.exception("could not write the face folder")
        failed = items(status_of(tmp_path, store, bus, errors=errors, clock=utc_now))["errors"]
        assert failed.ok is False
        assert "could not write the face folder (OSError)" in failed.detail
        assert "Traceback" not in failed.detail
        for i in range(5):
            logger.error("error %d", i)
        assert [r.message for r in errors.records()] == ["error 4", "error 3", "error 2"]
    finally:
        errors.uninstall(logger)
        logger.propagate = True


def test_old_errors_are_listed_but_green(tmp_path: Path, store: Store, bus: EventBus) -> None:
    errors = RecentErrors()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "old failure", None, None)
    record.created = (NOW - timedelta(days=2)).timestamp()
    errors.emit(record)
    found = items(status_of(tmp_path, store, bus, errors=errors))["errors"]
    assert found.ok is True and "old failure" in found.detail


def test_ntp_synchronized_reads_timedatectl(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(answer: str, code: int = 0) -> Any:
        def run(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
            return subprocess.CompletedProcess(args, code, stdout=answer, stderr="")

        return run

    monkeypatch.setattr(subprocess, "run", fake_run("yes\n"))
    assert ntp_synchronized() is True
    monkeypatch.setattr(subprocess, "run", fake_run("no\n"))
    assert ntp_synchronized() is False
    monkeypatch.setattr(subprocess, "run", fake_run("", 1))
    assert ntp_synchronized() is None

    def missing(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError("timedatectl")

    monkeypatch.setattr(subprocess, "run", missing)
    assert ntp_synchronized() is None
