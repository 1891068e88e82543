"""The desk page's rows with one look-up per page (appointments' 前夜確認, earlier answers of
visits kept offline, 目視 staff), its rendered-row cache and the decoded-summary memo: the same
rows, notes and audit entries as one look-up per row gave, and a cached row rendered again
whenever what it is made of changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from markupsafe import Markup

from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.packing import pack
from sync.rowsummary import SummaryReader, summarize, summary_of
from sync.store import AppointmentInput, Arrival, Store, VisitRecord
from web.rowcache import RowFragments

from .test_web import audit_actions, build, qualification, result, save

NOW = datetime(2031, 5, 7, 1, 0, tzinfo=UTC)  # 10:00 JST
DAY = "20310507"
INSURER = "06130012"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2031, 5, 7, hour, minute, tzinfo=JST)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), lambda: NOW)
    yield s
    s.close()


def book(store: Store) -> dict[str, int]:
    """Three appointments today (the same person twice, the earlier first) → patient → id."""
    store.import_appointments(
        [
            AppointmentInput(
                "P001", "ヤマダ　タロウ", "19800401", INSURER, "記号1", "1234", "01", at(9)
            ),
            AppointmentInput(
                "P002", "サトウ　ハナコ", "19900101", INSURER, "記号2", "5678", "", at(10)
            ),
            AppointmentInput(
                "P003", "ヤマダ　タロウ", "19800401", INSURER, "記号1", "1234", "01", at(8)
            ),
        ],
        actor="t",
        source="upload",
    )
    return {a.patient_number: a.id for a in store.appointments_on(DAY)}


def test_prechecks_for_arrivals_match_as_one_by_one(store: Store) -> None:
    ids = book(store)
    store.record_precheck(ids["P002"], klass="valid", raw=b"", checked_at=NOW, actor="t")
    arrivals = [
        Arrival(INSURER, "記号1", "1234", "19800401", DAY),  # by numbers: the earliest, P003
        Arrival("", "", "", "", DAY, "P002"),  # by 照会番号
        Arrival(INSURER, "記号2", "5678", "19900101", DAY, "P999"),  # unknown 照会番号: numbers
        Arrival(INSURER, "記号9", "9", "19800401", DAY),  # no appointment
        Arrival(INSURER, "記号1", "1234", "19800401", "20310508"),  # another day
        Arrival(INSURER, "記号1", "", "19800401", DAY),  # no number to match by
    ]
    batched = store.prechecks_for_arrivals(arrivals)
    one_by_one = [
        store.appointment_for_arrival(
            a.insurer_number, a.symbol, a.number, a.birthdate, a.day, a.reference_number
        )
        for a in arrivals
    ]
    assert [(b.appointment_id, b.precheck_class) if b else None for b in batched] == [
        (o.id, o.precheck_class) if o else None for o in one_by_one
    ]
    assert [b.appointment_id if b else None for b in batched] == [
        ids["P003"],
        ids["P002"],
        ids["P002"],
        None,
        None,
        None,
    ]
    assert batched[1] is not None and batched[1].precheck_class == "valid"
    assert store.prechecks_for_arrivals([]) == []


def test_no_appointments_today_no_match(store: Store) -> None:
    assert store.prechecks_for_arrivals([Arrival(INSURER, "記号1", "1234", "19800401", DAY)]) == [
        None
    ]


def offline_beside(store: Store, n: int, earlier_id: int) -> int:
    visit = VisitRecord(f"v{n}", NOW, NOW, "r", "pin", "done", file_id=f"o{n}")
    return store.save_offline_visit(
        file_id=f"o{n}", visit=visit, card=f"c{n}", earlier_id=earlier_id, actor="t", recheck=None
    ).id


def test_desk_page_notes_earlier_answers_and_audit(tmp_path: Path, store: Store) -> None:
    ids = book(store)
    store.record_precheck(ids["P003"], klass="valid", raw=b"", checked_at=NOW, actor="t")
    client = build(tmp_path, store).signed_in()
    mine = qualification(insurer_number=INSURER, symbol="記号1", number="1234")
    arrived = save(store, result(mine), "f-arrive")
    stranger = save(store, result(qualification(insurer_number=INSURER, number="9")), "f-other")
    first = offline_beside(store, 1, arrived.id)
    second = offline_beside(store, 2, stranger.id)
    before = len(audit_actions(store))
    for _ in range(2):  # the second page is rendered from the cache: audited all the same
        page = client.get("/").get_data(as_text=True)
        assert page.count("前夜確認: 確認済・有効") == 1  # the arrival's row only
        rows = client.get("/api/confirmations").get_json()["confirmations"]
        shown = {r["id"]: r for r in rows}
        assert shown[arrived.id]["precheck"] == "前夜確認: 確認済・有効"
        assert shown[stranger.id]["precheck"] == ""  # no appointment
        assert shown[first]["earlier_url"] == f"/confirmations/{arrived.id}"
        assert shown[second]["earlier_url"] == f"/confirmations/{stranger.id}"
    entries = [
        (e.action, e.subject, e.detail)
        for e in reversed(store.audit_entries())
        if e.actor == "reception"
    ][-12:]
    views = {
        ("confirmation.view", f"confirmation:{arrived.id}", f"shown for confirmation:{first}"),
        ("confirmation.view", f"confirmation:{stranger.id}", f"shown for confirmation:{second}"),
    }
    listing = ("confirmation.list", "confirmations:today", "rows=4")
    # Per load (page, API, page, API): each earlier answer shown, then the list, together.
    for load in range(4):
        got = entries[load * 3 : load * 3 + 3]
        assert set(got[:2]) == views and got[2] == listing
    assert len(audit_actions(store)) == before + 12


def test_a_cached_row_follows_its_precheck_and_language(tmp_path: Path, store: Store) -> None:
    ids = book(store)
    client = build(tmp_path, store).signed_in()
    save(store, result(qualification(insurer_number=INSURER, symbol="記号1", number="1234")), "a")
    assert "前夜確認" not in client.get("/").get_data(as_text=True)
    store.record_precheck(ids["P003"], klass="not_found", raw=b"", checked_at=NOW, actor="t")
    assert "前夜確認: " in client.get("/").get_data(as_text=True)  # pre-checked since
    english = client.get("/?lang=en").get_data(as_text=True)
    assert "前夜確認" not in english and "山田　太郎" in english


def test_row_of_a_visual_visit_names_its_staff(tmp_path: Path, store: Store) -> None:
    client = build(tmp_path, store).signed_in()
    visit = VisitRecord("w1", NOW, NOW, "r", "visual", "done", staff="reception")
    stored = store.save_confirmation(
        file_id="w1",
        raw_result=b"",
        result=result(qualification(), file_id="w1"),
        kind="card",
        method="visual",
        actor="reader",
        visit=visit,
    )
    row = client.get(f"/api/confirmations/{stored.id}").get_json()
    assert row["method"] == "目視 (受付 花子)"
    assert "目視 (受付 花子)" in client.get("/").get_data(as_text=True)


def test_row_fragments_render_again_when_the_key_or_day_changes() -> None:
    fragments = RowFragments(3)
    today = date(2031, 5, 7)
    made: list[str] = []

    def render(html: str) -> Markup:
        made.append(html)
        return Markup(html)

    assert fragments.row(today, ("a", "ja"), lambda: render("a")) == "a"
    assert fragments.row(today, ("a", "ja"), lambda: render("a again")) == "a"  # kept
    assert fragments.row(today, ("a", "en"), lambda: render("a en")) == "a en"  # another key
    tomorrow = today + timedelta(days=1)
    assert fragments.row(tomorrow, ("a", "ja"), lambda: render("a tomorrow")) == "a tomorrow"
    assert len(fragments) == 1  # the day changed: yesterday's rows are gone
    for key in ("b", "c", "d"):  # past its size: emptied, never over
        fragments.row(tomorrow, key, lambda key=key: render(key))  # type: ignore[misc]
        assert len(fragments) <= 3
    assert made == ["a", "a en", "a tomorrow", "b", "c", "d"]


def test_summary_reader_reads_as_summary_of_and_refuses_unknown_fields() -> None:
    answer = result(qualification(address="東京都千代田区", post_number="1000001"))
    data = summarize(answer)
    reader = SummaryReader(size=2)
    whole = dataclasses.replace(
        answer, results=(dataclasses.replace(answer.results[0], address="", post_number=""),)
    )
    assert summary_of(data) == whole
    assert reader(data) == whole and reader(data) is reader(data)  # decoded once
    forged = b'{"v":1,"h":{"process_time":"1"},"q":[{"not_a_field":"x"}]}'
    with pytest.raises(ValueError, match="not_a_field"):
        summary_of(pack(forged))
