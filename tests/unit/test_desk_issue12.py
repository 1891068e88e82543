"""The desk of issue 12 through the Flask test client and the store: desk alerts kept until a
person acknowledges them (and the one table of rules that raises them), a card visit without a
name that says which visit it was and can be checked by numbers, expired 限度額 / 高齢受給者
periods marked by the injected clock, and search by surname, given name or insurer alone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import cast

import pytest
from flask.testing import FlaskClient

from device.checks import ManualChecks
from device.confirm import Confirmations
from device.deskalerts import RULES, AlertKind, DeskAlerts, alert_for
from device.events import (
    CardGraceOver,
    CardLeftOnReader,
    ConfirmationStored,
    DeskAlertAcknowledged,
    DeskAlertRaised,
    EventBus,
    PinBlocked,
    StaffHelpRequested,
    VisitAborted,
    VisitFailed,
)
from sync.central import CentralClient
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.xmlmsg import ElderlyInfo, LimitInfo
from web import search
from web.present import confirmation_row, limit_text, period_ended
from web.reception import alert_text, staff_wire

from .test_checks import MIC
from .test_desk import Desk, csrf, desk, post, staff, store  # noqa: F401 - fixtures
from .test_web import STAFF_USER, qualification, result, save

__all__ = ["desk", "staff", "store"]

APRIL = datetime(2026, 4, 1, 1, tzinfo=UTC)


# -- the rules: one line per kind ------------------------------------------------------------
@pytest.mark.parametrize(
    ("event", "kind", "visit", "detail"),
    [
        (StaffHelpRequested("v1"), AlertKind.HELP_REQUESTED, "v1", ""),
        (PinBlocked("v1"), AlertKind.PIN_BLOCKED, "v1", ""),
        (VisitAborted("v1", "timeout"), AlertKind.VISIT_ABORTED, "v1", "timeout"),
        (
            VisitFailed("v1", "card_untrusted", "expired"),
            AlertKind.VISIT_FAILED,
            "v1",
            "card_untrusted:expired",
        ),
        (CardLeftOnReader("7", "R1", 20.0), AlertKind.CARD_LEFT, "7", "R1"),
        (
            CardGraceOver("8", date(2026, 1, 31), date(2026, 4, 30)),
            AlertKind.CARD_GRACE_OVER,
            "8",
            "",
        ),
    ],
)
def test_each_alerting_event_raises_its_alert(
    event: object, kind: AlertKind, visit: str, detail: str
) -> None:
    alert = alert_for(event)  # type: ignore[arg-type]
    assert alert is not None
    assert (alert.kind, alert.visit_id, alert.detail) == (kind, visit, detail)


def test_quiet_events_raise_nothing() -> None:
    assert alert_for(VisitAborted("v1", "stopped")) is None  # the appliance stopped it itself
    assert alert_for(ConfirmationStored(1, "v1")) is None
    assert ConfirmationStored not in RULES


@pytest.mark.parametrize("kind", list(AlertKind))
def test_every_alert_kind_has_words_in_both_languages(kind: AlertKind, store: Store) -> None:
    row = store.raise_desk_alert(kind.value, visit_id="v9", detail="timeout")
    assert row is not None
    ja, en = alert_text(row, "ja"), alert_text(row, "en")
    assert ja != kind.value and en != kind.value and ja != en


# -- kept, announced, acknowledged -----------------------------------------------------------
def test_an_alert_is_kept_once_and_announced(tmp_path: Path) -> None:
    keys = FieldKeys.generate()
    store = Store(tmp_path / "db", FieldCipher(keys))
    bus = EventBus()
    heard = bus.subscribe()
    alerts = DeskAlerts(store, bus)
    first = alerts.handle(StaffHelpRequested("v1"))
    assert first is not None
    assert alerts.handle(StaffHelpRequested("v1")) is None  # the same, still open: not twice
    assert alerts.handle(ConfirmationStored(1, "v1")) is None
    assert list(heard.drain()) == [DeskAlertRaised(first.id)]
    store.close()
    again = Store(tmp_path / "db", FieldCipher(keys))  # a restart: still open
    assert [a.id for a in again.open_desk_alerts()] == [first.id]
    again.close()


def test_the_listener_thread_keeps_what_the_bus_carries(store: Store) -> None:
    bus = EventBus()
    alerts = DeskAlerts(store, bus)
    heard = bus.subscribe()
    alerts.start()
    try:
        bus.publish(PinBlocked("v2"))
        raised = None
        while raised is None:  # no timing: the event comes or the test times out
            event = heard.get(5)
            raised = event if isinstance(event, DeskAlertRaised) else None
    finally:
        alerts.stop()
    found = store.desk_alert(raised.alert_id)
    assert found is not None and found.kind == "pin_blocked" and found.visit_id == "v2"


def test_the_desk_lists_alerts_and_a_person_acknowledges_them(
    desk: Desk,
    staff: FlaskClient,  # noqa: F811 - the fixture
) -> None:
    store = desk.store
    heard = desk.bus.subscribe()
    alert = store.raise_desk_alert("card_left", visit_id="5", detail="R1")
    assert alert is not None
    page = staff.get("/").get_data(as_text=True)
    assert f'data-alert-id="{alert.id}"' in page and "カードがリーダーに残っています" in page
    listed = staff.get("/api/desk-alerts").get_json()["alerts"]
    assert [a["id"] for a in listed] == [alert.id]
    path = f"/api/desk-alerts/{alert.id}/acknowledge"
    assert post(staff, path, token="").status_code == 403  # CSRF
    assert store.desk_alert(alert.id).open  # type: ignore[union-attr]
    done = post(staff, path)
    assert done.status_code == 200 and done.get_json()["staff"] == "受付 花子"
    kept = store.desk_alert(alert.id)
    assert kept is not None and not kept.open
    assert (kept.acknowledged_by, kept.acknowledged_name) == (STAFF_USER, "受付 花子")
    entry = store.audit_for_subject(f"desk_alert:{alert.id}")[0]
    assert (entry.action, entry.actor, entry.detail) == (
        "desk_alert.acknowledged",
        STAFF_USER,
        "受付 花子",
    )
    assert DeskAlertAcknowledged(alert.id, "受付 花子") in list(heard.drain())
    assert post(staff, path).status_code == 409  # already dealt with: says so
    assert post(staff, "/api/desk-alerts/999/acknowledge").status_code == 404
    assert f'data-alert-id="{alert.id}"' not in staff.get("/").get_data(as_text=True)


def test_alerts_go_on_the_staff_wire_with_words_not_codes(desk: Desk) -> None:
    alert = desk.store.raise_desk_alert("visit_aborted", visit_id="v1", detail="timeout")
    assert alert is not None
    assert staff_wire(DeskAlertRaised(alert.id), "ja") is None  # no store: nothing to say
    assert staff_wire(CardLeftOnReader("1", "R", 20.0), "ja") is None
    assert staff_wire(CardGraceOver("1", date(2026, 1, 31), date(2026, 4, 30)), "ja") is None
    assert staff_wire(DeskAlertAcknowledged(alert.id, "受付 花子"), "ja") == (
        "desk_alert_acknowledged",
        {"id": alert.id, "staff": "受付 花子"},
    )


# -- a card visit without a name ------------------------------------------------------------
def test_a_nameless_card_row_says_which_visit_and_offers_numbers(
    desk: Desk,
    staff: FlaskClient,  # noqa: F811 - the fixture
) -> None:
    none_found = result(segment_of_result="1", validity="", processing_message="該当資格なし")
    c = save(desk.store, none_found, "nf1")
    row = staff.get(f"/api/confirmations/{c.id}").get_json()
    assert row["name"] == ""
    assert row["time"] in row["visit_note"] and "暗証番号" in row["visit_note"]
    assert row["numbers_for_visit"] and not row["can_recheck"]
    # A named answer is not linked to by numbers.
    named = save(desk.store, result(qualification()), "n1")
    assert not staff.get(f"/api/confirmations/{named.id}").get_json()["numbers_for_visit"]
    assert not staff.get(f"/api/confirmations/{named.id}").get_json()["visit_note"]


def test_numbers_are_linked_only_to_a_nameless_card_visit(desk: Desk) -> None:
    nameless = save(desk.store, result(), "nf2")
    numbers_row = save(desk.store, result(), "nf3", kind="numbers", method="numbers")
    named = save(desk.store, result(qualification()), "n2")
    manual = ManualChecks(
        medical_institution_code=MIC,
        confirmations=Confirmations(
            transport=cast(CentralClient, desk.central), store=desk.store, bus=desk.bus
        ),
        store=desk.store,
    )
    assert manual.can_link(nameless.id)
    assert not manual.can_link(numbers_row.id) and not manual.can_link(named.id)
    assert not manual.can_link(9999)


# -- expired periods -------------------------------------------------------------------------
def test_expired_periods_are_marked_by_the_injected_day() -> None:
    q = qualification(
        limit=LimitInfo("01", "A03", "20250801", "20250801", "20260731"),
        elderly=ElderlyInfo("20250101", "20250101", "20260331", "020"),
    )
    assert not period_ended("20260731", date(2026, 7, 31))  # its last day still counts
    assert period_ended("20260731", date(2026, 8, 1))
    assert not period_ended("", date(2030, 1, 1)) and not period_ended("20260731", None)
    assert limit_text(q, "ja", date(2026, 8, 1)).expired
    assert "期限切れ" in limit_text(q, "ja", date(2026, 8, 1)).text
    assert "expired" in limit_text(q, "en", date(2026, 8, 1)).text
    assert not limit_text(q, "ja", date(2026, 7, 31)).expired


def test_a_row_marks_what_has_ended_and_nothing_current(
    desk: Desk,
    staff: FlaskClient,  # noqa: F811 - the fixture
) -> None:
    desk.store._clock = lambda: APRIL  # 2026-04-01 in Japan
    q = qualification(
        limit=LimitInfo("01", "A03", "20250801", "20250801", "20260731"),  # current
        elderly=ElderlyInfo("20250101", "20250101", "20260331", "020"),  # ended yesterday
    )
    c = save(desk.store, result(q), "e1")
    row = staff.get(f"/api/confirmations/{c.id}").get_json()
    assert row["elderly_expired"] and "期限切れ" in row["elderly_ratio"]
    assert not row["limit_expired"] and "期限切れ" not in row["limit"]
    page = staff.get(f"/confirmations/{c.id}").get_data(as_text=True)
    assert "2026/03/31 (期限切れ)" in page and "2026/07/31 (期限切れ)" not in page
    direct = confirmation_row(c, "en", today=date(2026, 8, 1))
    assert direct["limit_expired"] and direct["elderly_expired"]


# -- search ----------------------------------------------------------------------------------
def test_parse_reads_each_kind_and_names_what_it_cannot() -> None:
    assert search.parse_query("ヤマダ").kind == "kana"
    assert search.parse_query("たろう").kana == "タロウ"
    insurer = search.parse_query("01130012")
    assert (insurer.kind, insurer.insurer_number) == ("insurer", "01130012")
    assert search.parse_query("138057").kind in ("insurer",)
    with pytest.raises(search.QueryError) as kanji:
        search.parse_query("山田")
    assert kanji.value.key == "desk_search_kanji"
    with pytest.raises(search.QueryError) as junk:
        search.parse_query("12a45")
    assert junk.value.key == "desk_search_not_understood" and junk.value.part == "12a45"
    with pytest.raises(search.QueryError) as digit:
        search.parse_query("06130012")  # a wrong check digit: not an insurer, nor a date
    assert digit.value.part == "06130012" and digit.value.identifier is not None


def test_search_finds_by_surname_given_name_or_insurer_alone(
    desk: Desk,
    staff: FlaskClient,  # noqa: F811 - the fixture
) -> None:
    yamada = save(desk.store, result(qualification(insurer_number="01130012")), "s1")
    other = qualification(
        name="鈴木　花子", name_kana="スズキ　ハナコ", insurer_number="138057", number="9"
    )
    suzuki = save(desk.store, result(other), "s2")
    for q, expected in (
        ("ヤマダ", {yamada.id}),
        ("たろう", {yamada.id}),
        ("ヤマダタロウ", {yamada.id}),
        ("ﾊﾅｺ", {suzuki.id}),
        ("01130012", {yamada.id}),
        ("138057", {suzuki.id}),
        ("00138057", {suzuki.id}),
    ):
        query = search.parse_query(q)
        assert {c.id for c in search.find(desk.store, query)} == expected, q
    page = staff.get("/search?q=山田").get_data(as_text=True)
    assert "カナ" in page and "search-error" in page
    entries = desk.store.audit_entries(5)
    assert all("山田" not in e.detail for e in entries)  # what was typed is not recorded


def test_rows_stored_before_the_search_migration_are_indexed_at_open(tmp_path: Path) -> None:
    keys = FieldKeys.generate()
    store = Store(tmp_path / "db", FieldCipher(keys))
    c = save(store, result(qualification(insurer_number="01130012")), "old1")
    with store._lock:  # as a row from before migration 18 looks
        store._db.execute(
            "UPDATE confirmations SET bi_kana_family = '', bi_kana_given = '', bi_insurer = '',"
            " search_indexed = 0"
        )
    assert store.find_by_insurer("01130012") == []
    store.close()
    reopened = Store(tmp_path / "db", FieldCipher(keys))
    assert [x.id for x in reopened.find_by_insurer("01130012")] == [c.id]
    assert [x.id for x in reopened.find_by_kana("タロウ")] == [c.id]
    reopened.close()
