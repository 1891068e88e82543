"""Lists read each answer's row summary, never its XML; rows look as they did when they parsed it.

Answers of the simulated population (cards and numbers, 限度額 and 高齢受給者, 公費 and 医療扶助,
not found, visits kept offline beside a 前回確認) are saved through the store; the desk's rows
are then formatted from the summaries with the XML parser made to fail, and compared with the
rows formatted from the whole parsed answers, on the day and years later (periods over).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import sync.store.visits
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.rowsummary import summarize, summary_of
from sync.store import Confirmation, Store, VisitRecord
from sync.xmlmsg import (
    ConsentState,
    QualificationResult,
    parse_result,
)
from tests.answers import answer as shared_answer
from tests.unit.test_web import STAFF_HASH, build, sign_in
from web.present import confirmation_row

NOW = datetime(2031, 5, 7, 3, 0, tzinfo=UTC)
DAY = "20310507"


def answer(n: int) -> tuple[bytes, QualificationResult, str]:
    consents = (ConsentState("drug", "1", DAY + "100000", DAY + "100000"),)
    return shared_answer(n, DAY + "110000", found=n % 11 != 4, consents=consents)


def fill(store: Store, count: int) -> None:
    for n in range(count):
        if n % 13 == 12:  # kept offline beside the first answer
            visit = VisitRecord(f"v{n}", NOW, NOW, "r", "pin", "done", file_id=f"o{n}")
            store.save_offline_visit(
                file_id=f"o{n}", visit=visit, card=f"c{n}", earlier_id=1, actor="t", recheck=None
            )
            continue
        raw, result, kind = answer(n)
        store.save_confirmation(
            file_id=result.file_id,
            raw_result=raw,
            result=result,
            kind=kind,
            method="pin" if kind == "card" else "numbers",
            actor="t",
            card=f"c{n}" if kind == "card" else "",
        )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), lambda: NOW)


class Parses:
    """Counts (or forbids) parsing answers' XML in the store."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, allowed: bool) -> None:
        self.calls = 0

        def counted(raw: bytes, **kwargs: Any) -> QualificationResult:
            self.calls += 1
            if not allowed:
                raise AssertionError("a list parsed an answer's XML")
            return parse_result(raw, **kwargs)

        monkeypatch.setattr(sync.store.visits, "parse_result", counted)


def whole(c: Confirmation) -> Confirmation:
    """The row as it was before summaries: formatted from the whole parsed answer."""
    return dataclasses.replace(c, summary=c.result, load=None)


def test_rows_from_summaries_match_rows_from_whole_answers(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store, 60)
    parses = Parses(monkeypatch, allowed=False)
    rows = store.recent_confirmations(datetime(2031, 5, 6, tzinfo=UTC), 500)
    by_id = {c.id: c for c in rows}
    days = (NOW.astimezone(JST).date(), date(2040, 1, 1))  # today, and after periods ended
    summarized = {
        (c.id, lang, day): confirmation_row(
            c, lang, "", by_id.get(c.earlier_id or 0) if c.offline else None, day
        )
        for c in rows
        for lang in ("ja", "en")
        for day in days
    }
    assert parses.calls == 0
    monkeypatch.undo()
    full = {c.id: whole(c) for c in rows}
    for (row_id, lang, day), shown in summarized.items():
        c = full[row_id]
        earlier = full.get(c.earlier_id or 0) if c.offline else None
        assert shown == confirmation_row(c, lang, "", earlier, day), (row_id, lang, day)
    # The variety the comparison covered.
    kinds = {
        (r["badge"]["code"], bool(r["public_expense"]), bool(r["limit"]))
        for r in summarized.values()
    }
    assert {"VALID", "OFFLINE"} <= {k[0] for k in kinds}
    assert any(k[1] for k in kinds) and any(k[2] for k in kinds)
    assert any(r["limit_expired"] or r["elderly_expired"] for r in summarized.values())
    assert any(r["public_expense_warning"] for r in summarized.values())


def test_the_whole_answer_is_parsed_once_on_first_use(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store, 3)
    parses = Parses(monkeypatch, allowed=True)
    found = store.confirmation(2)
    assert found is not None and parses.calls == 0
    raw, parsed, _ = answer(1)
    assert found.result == parsed and found.result is found.result
    assert parses.calls == 1
    assert found.summary == summary_of(summarize(parsed))
    assert store.confirmation_raw(2) == raw  # exactly as received, though kept packed


def test_desk_search_live_row_and_clinical_list_do_not_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: NOW)
    fill(store, 30)
    store.add_user("doctor", "医師 一郎", ("clinical",), STAFF_HASH)
    setup = build(tmp_path, store)
    desk = setup.signed_in()
    Parses(monkeypatch, allowed=False)
    page = desk.get("/")
    assert page.status_code == 200
    named = store.confirmation(1)
    assert named is not None and named.summary.results
    assert named.summary.results[0].name in page.get_data(as_text=True)
    listed = desk.get("/api/confirmations?since=today").get_json()["confirmations"]
    assert len(listed) == 30
    assert desk.get("/api/confirmations/1").get_json()["name"] == named.summary.results[0].name
    surname = named.summary.results[0].name_kana.split()[0]
    assert named.summary.results[0].name in desk.get(f"/search?q={surname}").get_data(True)
    doctor = sign_in(setup.staff.test_client(), "doctor")
    clinical = doctor.get("/clinical/")
    assert clinical.status_code == 200
    assert named.summary.results[0].name in clinical.get_data(as_text=True)
    monkeypatch.undo()
    assert desk.get("/confirmations/1").status_code == 200  # the detail page parses, as before
    store.close()


def test_rows_stored_before_summaries_get_them_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = FieldKeys.generate()
    path = tmp_path / "onshi.db"
    store = Store(path, FieldCipher(keys), lambda: NOW)
    fill(store, 14)
    before = [whole(c) for c in store.recent_confirmations(datetime(2031, 5, 6, tzinfo=UTC))]
    raws = {c.id: store.confirmation_raw(c.id) for c in before}
    store.close()
    # As the code before the summaries kept them: no summary, the answer as received.
    cipher = FieldCipher(keys)
    db = sqlite3.connect(path)
    for row_id, file_id in db.execute("SELECT id, file_id FROM confirmations").fetchall():
        db.execute(
            "UPDATE confirmations SET enc_summary = NULL, packed = 0, enc_result = ? WHERE id = ?",
            [cipher.encrypt(raws[row_id] or b"", f"confirmations.enc_result:{file_id}"), row_id],
        )
    db.commit()
    db.close()
    parses = Parses(monkeypatch, allowed=True)
    reopened = Store(path, FieldCipher(keys), lambda: NOW)
    answered = sum(1 for raw in raws.values() if raw)
    assert parses.calls == answered  # each once, at open
    after = reopened.recent_confirmations(datetime(2031, 5, 6, tzinfo=UTC))
    assert parses.calls == answered  # lists read the summaries the open made
    assert [whole(c) for c in after] == before
    assert {c.id: reopened.confirmation_raw(c.id) for c in after} == raws
    left = reopened._db.execute(
        "SELECT COUNT(*) FROM confirmations WHERE enc_summary IS NULL OR packed = 0"
    ).fetchone()[0]
    assert left == 0
    reopened.close()


def test_a_bounded_backfill_takes_the_newest_rows_first(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store, 10)
    store._db.execute("UPDATE confirmations SET enc_summary = NULL")
    store._db.conn.commit()
    assert store.backfill_summaries(3) == 3
    missing = [
        int(r[0])
        for r in store._db.execute(
            "SELECT id FROM confirmations WHERE enc_summary IS NULL ORDER BY id"
        ).fetchall()
    ]
    assert missing == list(range(1, 8))
    # A row without its summary yet still reads, by parsing its answer as before.
    parses = Parses(monkeypatch, allowed=True)
    row = store.confirmation(1)
    assert row is not None and row.summary.results and parses.calls == 1
    assert store.backfill_summaries() == 7
    assert store.backfill_summaries() == 0


def test_summaries_and_answers_are_encrypted_at_rest(tmp_path: Path) -> None:
    path = tmp_path / "onshi.db"
    store = Store(path, FieldCipher(FieldKeys.generate()), lambda: NOW)
    fill(store, 12)
    shown = [q for c in store.recent_confirmations(NOW.replace(hour=0)) for q in c.summary.results]
    store.close()  # checkpointed: everything is in the file
    data = path.read_bytes()
    assert shown
    for q in shown:
        for value in (q.name_kana, q.name, q.insurer_name):
            assert value.encode() not in data
    assert b'"name_kana"' not in data and b"NameKana" not in data
