"""A full disk with an injected failure: the reserve, StoreFullError, and the words on each screen.

tests/drills/test_disk_full.py fills a real filesystem; here SQLite's answer is injected, so the
path where SQLite reports the disk full before free space looks low is covered too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from flask.testing import FlaskClient

from device.confirm import Confirmations
from device.events import EventBus, VisitFailed
from device.flow import VisitFlow, VisitState
from reader.connection import CardConnection
from sim.card import VirtualCard
from sim.pki import PkiPaths
from sync.central import CentralAnswer, CentralClient
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.reserve import RESERVE_NAME
from sync.store import Store, StoreFullError
from sync.xmlmsg import QualificationRequest, build_result, parse_result
from web.present import reason_text

from .test_desk import CHECK, Desk, desk, post, staff  # noqa: F401 - fixtures
from .test_status import items, status_of
from .test_web import qualification, result

RESERVE = 64 * 1024


def full_error() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database or disk is full")
    error.sqlite_errorcode = 13  # type: ignore[attr-defined]  # SQLITE_FULL, as SQLite sets it
    return error


class FailingConnection:
    """The store's sqlite3 connection, with COMMIT failing `times` times as on a full disk."""

    def __init__(self, real: sqlite3.Connection, times: int) -> None:
        self._real = real
        self.times = times

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.strip().upper() == "COMMIT" and self.times > 0:
            self.times -= 1
            self._real.execute("ROLLBACK")  # what SQLite does on SQLITE_FULL at commit
            raise full_error()
        return self._real.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def fail_commits(store: Store, times: int) -> FailingConnection:
    db: Any = getattr(store, "_db")  # noqa: B009 - the one connection the store writes through
    failing = FailingConnection(db.conn, times)
    db.conn = failing
    return failing


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), reserve_bytes=RESERVE)
    yield s
    s.close()


def save_one(store: Store, file_id: str = "f1") -> Any:
    raw = build_result(result(qualification(), file_id=file_id))
    return store.save_confirmation(
        file_id=file_id,
        raw_result=raw,
        result=parse_result(raw),
        kind="numbers",
        method="numbers",
        actor="reception",
    )


def test_the_reserve_is_made_beside_the_database(tmp_path: Path, store: Store) -> None:
    reserve = tmp_path / RESERVE_NAME
    assert reserve.stat().st_size == RESERVE
    assert reserve.stat().st_blocks * 512 >= RESERVE  # really allocated, not a sparse file
    disk = store.disk_state()
    assert disk is not None and disk.reserve_held and disk.free_bytes > 0


def test_sqlite_full_releases_the_reserve_and_the_answer_is_saved(
    tmp_path: Path, store: Store
) -> None:
    failing = fail_commits(store, times=1)
    stored = save_one(store)
    assert failing.times == 0  # the first attempt did fail
    assert store.count_confirmations() == 1
    assert store.confirmation(stored.id) is not None
    stored_entries = [e for e in store.audit_entries() if e.action == "confirmation.stored"]
    assert len(stored_entries) == 1  # the failed attempt left nothing behind
    assert not (tmp_path / RESERVE_NAME).exists()
    disk = store.disk_state()
    assert disk is not None and not disk.reserve_held


def test_with_the_reserve_spent_the_store_says_full_and_writes_nothing(store: Store) -> None:
    fail_commits(store, times=100)
    with pytest.raises(StoreFullError) as refused:
        save_one(store)
    assert refused.value.reserve_left is False  # released on the first try, then spent
    with pytest.raises(StoreFullError):
        store.audit("reception", "confirmation.list", "confirmations:today")
    assert store.count_confirmations() == 0
    assert store.audit_entries() == []
    assert store.verify_audit() is None


def test_other_sqlite_errors_are_not_taken_for_a_full_disk(store: Store) -> None:
    save_one(store, "same")
    with pytest.raises(sqlite3.IntegrityError):
        save_one(store, "same")  # the file id is unique
    disk = store.disk_state()
    assert disk is not None and disk.reserve_held


def test_a_store_without_a_reserve_still_raises_the_named_error(tmp_path: Path) -> None:
    plain = Store(tmp_path / "plain.db", FieldCipher(FieldKeys.generate()))
    try:
        fail_commits(plain, times=1)
        with pytest.raises(StoreFullError):
            save_one(plain)
        assert plain.count_confirmations() == 0
    finally:
        plain.close()


# -- the screens -------------------------------------------------------------------------
def test_manual_check_on_a_full_disk_says_so_in_both_languages(
    desk: Desk,  # noqa: F811 - the fixture imported above
    staff: FlaskClient,  # noqa: F811
) -> None:
    page = staff.get("/").get_data(as_text=True)
    token = page.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
    fail_commits(desk.store, times=100)
    r = post(staff, "/api/checks", CHECK, token=token)
    assert r.status_code == 507
    body = r.get_json()
    assert "記憶領域がいっぱい" in body["message"] and "storage is full" in body["message"]
    assert "管理者" in body["message"] and "free space" in body["message"]  # what to do
    assert desk.store.count_confirmations() == 0


def test_desk_page_on_a_full_disk_is_a_page_in_words(
    desk: Desk,  # noqa: F811 - the fixture imported above
    staff: FlaskClient,  # noqa: F811
) -> None:
    fail_commits(desk.store, times=100)
    r = staff.get("/")
    assert r.status_code == 507
    text = r.get_data(as_text=True)
    assert "<html" in text and "記憶領域がいっぱい" in text and "storage is full" in text
    assert r.headers["Content-Security-Policy"]


def test_status_page_is_red_with_the_free_space_once_the_reserve_is_used(
    tmp_path: Path, store: Store
) -> None:
    bus = EventBus()
    status = status_of(tmp_path, store, bus)
    try:
        assert items(status)["database"].ok is True
        fail_commits(store, times=1)
        save_one(store)  # saved from the reserve
        item = items(status)["database"]
        assert item.ok is False and item.level == "bad"
        assert "ディスクがほぼ満杯" in item.value and "disk nearly full" in item.value
        assert " MB" in item.value  # the free space, in words and numbers
        assert "空き" in item.detail and "Free space" in item.detail
    finally:
        status.close()


# -- a card visit whose answer cannot be saved ------------------------------------------------
class _CardConnection:
    def __init__(self, card: VirtualCard) -> None:
        self._card = card

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        answer = self._card.transmit(apdu)
        return answer[:-2], int.from_bytes(answer[-2:], "big")

    def close(self) -> None:
        pass


class _Central:
    def nonce(self) -> bytes:
        return b"n" * 32

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        raw = build_result(result(qualification(), file_id=request.file_id))
        return CentralAnswer(result=result(qualification()), raw=raw, round_trip_s=0.0)


class _Pin:
    def submit(self, visit_id: str, value: object) -> bool:
        return False

    def wait(self, visit: object, step: str, timeout: float) -> str:
        return "1234"

    def cancel(self, visit_id: str) -> None:
        pass


def test_a_verified_visit_on_a_full_disk_fails_with_words_not_internal_error(
    tmp_path: Path, store: Store, sim_pki: PkiPaths
) -> None:
    card = VirtualCard("P001", sim_pki, state_dir=tmp_path / "card", pin="1234")
    bus = EventBus()
    events = bus.subscribe()
    flow = VisitFlow(
        medical_institution_code="1312345670",
        connect=lambda reader: cast(CardConnection, _CardConnection(card)),
        confirmations=Confirmations(
            transport=cast(CentralClient, _Central()), store=store, bus=bus
        ),
        store=store,
        bus=bus,
        inputs=_Pin(),
    )
    fail_commits(store, times=100)
    outcome = flow.run_visit("reader")
    assert outcome.state is VisitState.FAILED and outcome.reason == "disk_full"
    failed = [e for e in events.drain() if isinstance(e, VisitFailed)]
    assert failed and failed[0].reason == "disk_full"
    # the words each screen shows for it, in both languages
    assert "記憶領域がいっぱい" in reason_text(failed[0].reason, "ja")
    assert "storage is full" in reason_text(failed[0].reason, "en")
    assert "受付にお声がけください" in reason_text(failed[0].reason, "ja", kiosk=True)
    assert store.count_confirmations() == 0


def test_the_desk_warns_while_answers_are_saved_from_the_reserve(
    desk: Desk,  # noqa: F811 - the fixture imported above (its store is this module's)
    staff: FlaskClient,  # noqa: F811
) -> None:
    page = staff.get("/").get_data(as_text=True)
    assert '<div id="disk-alert" class="staff-alert" role="alert" hidden></div>' in page
    assert staff.get("/api/confirmations").get_json()["disk_warning"] == ""
    fail_commits(desk.store, times=1)
    save_one(desk.store)  # saved, from the reserve
    page = staff.get("/").get_data(as_text=True)
    alert = page.split('<div id="disk-alert"', 1)[1].split("</div>", 1)[0]
    assert "hidden" not in alert.split(">", 1)[0]
    assert "記憶領域が残りわずか" in alert and " MB" in alert and "管理者" in alert
    english = staff.get("/api/confirmations?lang=en").get_json()["disk_warning"]
    assert "nearly full" in english and "ask an admin" in english
