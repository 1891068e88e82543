"""The appointments list (issue 14): the CSV parser (encodings, headers, every problem with its
line, all or nothing), the encrypted store (re-import idempotent, pre-check recorded with its
audit entry, found on arrival), the 「明日の予約」 page and POST /api/v1/appointments."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from device.appointments import Appointments
from device.events import AppointmentsImported, EventBus
from sync.appointments import (
    MAX_BYTES,
    MAX_ROWS,
    AppointmentProblem,
    AppointmentsRejected,
    RowProblem,
    parse_appointments,
)
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.identifiers import IdentifierProblem, check_digit
from sync.precheck import PrecheckClass
from sync.store import AppointmentInput, Store
from web.appointments import day_view, problem_text

from .test_web import Setup, build, qualification, result, save

TODAY = date(2031, 5, 6)  # fixed, not today
NOW = datetime(2031, 5, 6, 1, 0, tzinfo=UTC)  # 10:00 JST
TOMORROW = "20310507"


def insurer(body: str) -> str:
    return body + str(check_digit(body))


GOOD = insurer("0613001")
OTHER = insurer("3913001")
HEADER_JA = "患者番号,カナ氏名,生年月日,保険者番号,記号,番号,枝番,予約日時"
HEADER_EN = "patient_number,kana,birthdate,insurer_number,symbol,number,branch,appointment"


def csv_of(*lines: str, header: str = HEADER_JA) -> str:
    return "\r\n".join([header, *lines]) + "\r\n"


ROWS = (
    f"P001,ヤマダ タロウ,19800401,{GOOD},記号1,1234,01,2031-05-07 09:30",
    f"P002,サトウ ハナコ,1975/12/03,{OTHER},,5678,,20310507 1000",
    f"P003,スズキ イチロウ,S50.4.1,{GOOD},12,99,1,2031/05/07 9:00",
)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), Clock())
    yield s
    s.close()


# -- the parser ---------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "utf-8-sig"])
def test_shift_jis_and_utf8_with_or_without_bom(encoding: str) -> None:
    rows = parse_appointments(csv_of(*ROWS).encode(encoding), today=TODAY)
    assert [r.patient_number for r in rows] == ["P001", "P002", "P003"]
    first = rows[0]
    assert first == AppointmentInput(
        patient_number="P001",
        kana="ヤマダ タロウ",
        birthdate="19800401",
        insurer_number=GOOD,
        symbol="記号1",
        number="1234",
        branch="01",
        at=datetime(2031, 5, 7, 9, 30, tzinfo=JST),
    )
    assert rows[1].birthdate == "19751203" and rows[1].at.hour == 10
    assert rows[2].birthdate == "19750401" and rows[2].branch == "01"  # 和暦, branch padded


def test_english_header_in_any_order_and_separate_date_and_time() -> None:
    header = "Kana,Patient Number,Insurer_Number,Number,Birthdate,予約日,予約時刻"
    data = csv_of(f"ヤマダ タロウ,P9,{GOOD},1,1980-04-01,2031-05-07,14:05", header=header)
    (row,) = parse_appointments(data.encode(), today=TODAY)
    assert (row.patient_number, row.symbol, row.branch) == ("P9", "", "")
    assert row.at == datetime(2031, 5, 7, 14, 5, tzinfo=JST)
    (en,) = parse_appointments(csv_of(ROWS[0], header=HEADER_EN).encode(), today=TODAY)
    assert en.patient_number == "P001"


def test_every_bad_row_with_its_line_and_nothing_taken() -> None:
    data = csv_of(
        ROWS[0],  # line 2: fine
        f",ヤマダ タロウ,19800401,{GOOD},,1,,2031-05-07 09:00",  # 3: no patient number
        f"P4,yamada,19800401,{GOOD},,1,,2031-05-07 09:00",  # 4: not katakana
        "P5,ヤマダ タロウ,19800401,06130013,,1,,2031-05-07 09:00",  # 5: check digit
        f"P6,ヤマダ タロウ,20990101,{GOOD},,1,,2031-05-07 09:00",  # 6: born in the future
        f"P7,ヤマダ タロウ,19800401,{GOOD},,1,,tomorrow",  # 7: appointment unreadable
        "",  # 8: blank, skipped
        ROWS[0],  # 9: the same as line 2
        f"P10,ヤマダ タロウ,19800401,{GOOD},,1,123,2031-05-07 09:00",  # 10: branch length
        f"P11,ヤマダ タロウ,19800401,{GOOD},,1,,2031-05-07 09:00,extra",  # 11: a cell too many
        f"P12 x,ヤマダ タロウ,19800401,{GOOD},,1,,2031-02-30 09:00",  # 12: two problems
    )
    with pytest.raises(AppointmentsRejected) as refused:
        parse_appointments(data.encode("cp932"), today=TODAY)
    found = [(p.line, p.field, p.problem) for p in refused.value.problems]
    assert found == [
        (3, "patient_number", AppointmentProblem.MISSING),
        (4, "kana", AppointmentProblem.KANA),
        (5, "insurer_number", AppointmentProblem.IDENTIFIER),
        (6, "birthdate", AppointmentProblem.IDENTIFIER),
        (7, "appointment", AppointmentProblem.APPOINTMENT),
        (9, "", AppointmentProblem.DUPLICATE),
        (10, "branch", AppointmentProblem.IDENTIFIER),
        (11, "", AppointmentProblem.COLUMNS),
        (12, "patient_number", AppointmentProblem.PATIENT_NUMBER),
        (12, "appointment", AppointmentProblem.APPOINTMENT),
    ]
    problems = refused.value.problems
    identifier = problems[2].identifier
    assert identifier is not None and identifier.problem is IdentifierProblem.CHECK_DIGIT
    assert problems[3].identifier is not None
    assert problems[3].identifier.problem is IdentifierProblem.FUTURE
    assert problems[5].other_line == 2
    # Words in each language, the line's own reason.
    assert problem_text(problems[2], "ja").startswith("保険者番号")
    assert "check digit" in problem_text(problems[2], "en")
    assert problem_text(problems[5], "en") == "Same patient at the same time as line 2"
    assert problem_text(problems[1], "ja") == "カナ氏名はカタカナで書いてください"


def test_file_level_refusals() -> None:
    def problem_of(data: bytes) -> AppointmentProblem:
        with pytest.raises(AppointmentsRejected) as refused:
            parse_appointments(data, today=TODAY)
        return refused.value.problems[0].problem

    assert problem_of(b"\xff\xfe\x00bad") is AppointmentProblem.ENCODING
    assert problem_of(HEADER_JA.encode()) is AppointmentProblem.EMPTY
    assert problem_of(b"") is AppointmentProblem.EMPTY
    assert problem_of(b"x" * (MAX_BYTES + 1)) is AppointmentProblem.TOO_LARGE
    many = csv_of(*[ROWS[0].replace("P001", f"P{i}") for i in range(MAX_ROWS + 1)])
    assert problem_of(many.encode()) is AppointmentProblem.TOO_MANY_ROWS
    with pytest.raises(AppointmentsRejected) as refused:
        parse_appointments(csv_of(ROWS[0], header="患者番号,カナ氏名").encode(), today=TODAY)
    missing = [(p.line, p.field) for p in refused.value.problems]
    assert missing == [(1, "birthdate"), (1, "insurer_number"), (1, "number"), (1, "appointment")]
    assert problem_text(refused.value.problems[0], "ja") == "列「生年月日」がありません"
    big = refused.value.problems[0].__class__(0, "", AppointmentProblem.TOO_LARGE, limit=MAX_BYTES)
    assert "2 MB" in problem_text(big, "en")


def test_exactly_the_row_cap_is_taken() -> None:
    rows = [ROWS[0].replace("P001", f"P{i}") for i in range(MAX_ROWS)]
    assert len(parse_appointments(csv_of(*rows).encode(), today=TODAY)) == MAX_ROWS


# -- the store ----------------------------------------------------------------------------------
def test_encrypted_at_rest_and_reimport_updates(store: Store, tmp_path: Path) -> None:
    rows = parse_appointments(csv_of(*ROWS).encode(), today=TODAY)
    assert store.import_appointments(rows, actor="reception", source="upload") == 3
    assert store.import_appointments(rows, actor="reception", source="upload") == 3
    listed = store.appointments_on(TOMORROW)
    assert [r.patient_number for r in listed] == ["P003", "P001", "P002"]  # by time
    assert listed[1].kana == "ヤマダ タロウ" and listed[1].day == TOMORROW
    assert store.appointments_on("20310508") == []
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("onshi.db"))
    for secret in ("ヤマダ", "サトウ", "記号1", "P001", "19800401", "5678"):
        assert secret.encode() not in raw, secret
    imports = [e for e in store.audit_entries() if e.action == "appointments.imported"]
    assert len(imports) == 2 and imports[0].subject == f"appointments:{TOMORROW}"
    assert "added=0 updated=3" in imports[0].detail


def test_precheck_recorded_with_audit_and_dropped_when_numbers_change(store: Store) -> None:
    rows = parse_appointments(csv_of(*ROWS).encode(), today=TODAY)
    store.import_appointments(rows, actor="reception", source="upload")
    first = store.appointments_on(TOMORROW)[1]
    store.record_precheck(
        first.id, klass=PrecheckClass.VALID, raw=b"<xml/>", checked_at=NOW, actor="bulkrun"
    )
    again = store.appointment(first.id)
    assert again is not None and again.precheck_class == "valid" and again.prechecked_at == NOW
    assert store.precheck_raw(first.id) == b"<xml/>"
    assert store.audit_for_subject(f"appointment:{first.id}")[0].detail == "valid"
    # The same list again keeps the pre-check; other numbers for the same slot drop it.
    store.import_appointments(rows, actor="reception", source="upload")
    assert store.appointment(first.id).precheck_class == "valid"  # type: ignore[union-attr]
    changed = rows[0].__class__(**{**rows[0].__dict__, "number": "4321"})
    store.import_appointments([changed], actor="reception", source="api")
    after = store.appointment(first.id)
    assert after is not None and after.number == "4321" and after.precheck_class == ""
    assert store.precheck_raw(first.id) is None


def test_appointment_for_arrival_by_reference_or_numbers(store: Store) -> None:
    rows = parse_appointments(csv_of(*ROWS).encode(), today=TODAY)
    store.import_appointments(rows, actor="reception", source="upload")
    by_numbers = store.appointment_for_arrival(GOOD, "記号1", "1234", "19800401", TOMORROW)
    assert by_numbers is not None and by_numbers.patient_number == "P001"
    by_reference = store.appointment_for_arrival("", "", "", "", TOMORROW, reference_number="P002")
    assert by_reference is not None and by_reference.patient_number == "P002"
    assert store.appointment_for_arrival(GOOD, "記号1", "1234", "19800402", TOMORROW) is None
    assert store.appointment_for_arrival(GOOD, "記号1", "1234", "19800401", "20310508") is None


def test_purged_with_the_other_records(store: Store) -> None:
    rows = parse_appointments(csv_of(*ROWS).encode(), today=TODAY)
    store.import_appointments(rows, actor="reception", source="upload")
    purged = store.purge_records_before(datetime(2031, 5, 7, 0, 35, tzinfo=UTC), actor="system")
    assert purged.appointments == 2  # 09:00 and 09:30 JST are before 09:35 JST
    assert [r.patient_number for r in store.appointments_on(TOMORROW)] == ["P002"]


# -- the service, the page, the desk row --------------------------------------------------------
@pytest.fixture
def desk(tmp_path: Path, store: Store) -> Setup:
    return build(tmp_path, store)


def upload(client: FlaskClient, data: bytes, **query: str) -> object:
    page = client.get("/appointments").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    return client.post(
        "/appointments" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""),
        data={"csrf_token": csrf.group(1), "file": (BytesIO(data), "yoyaku.csv")},
        content_type="multipart/form-data",
    )


def test_service_imports_audits_and_publishes(store: Store) -> None:
    bus = EventBus()
    heard = bus.subscribe()
    service = Appointments(store, bus, Clock())
    assert service.tomorrow() == date(2031, 5, 7)
    assert service.import_csv(csv_of(*ROWS).encode("cp932"), actor="uketsuke", source="upload")
    assert list(heard.drain()) == [AppointmentsImported(rows=3, days=(TOMORROW,), day_count=1)]
    with pytest.raises(AppointmentsRejected):
        service.import_csv(csv_of(ROWS[0], "P9,x,,,,,,").encode(), actor="u", source="upload")
    assert list(heard.drain()) == []
    assert len(service.on_day(date(2031, 5, 7), actor="uketsuke")) == 3
    view = store.audit_entries(1)[0]
    assert (view.actor, view.action, view.detail) == ("uketsuke", "appointments.view", "rows=3")


def test_page_refuses_a_bad_list_then_takes_a_good_one(desk: Setup, store: Store) -> None:
    client = desk.signed_in()
    page = client.get("/appointments")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="2031-05-07"' in html  # tomorrow by the injected clock
    assert "0件（正常0件・要確認0件）" in html
    bad = csv_of(ROWS[0], "P9,yamada,19800401,06130013,,1,,2031-05-07 10:00").encode("cp932")
    refused = upload(client, bad)
    assert refused.status_code == 422  # type: ignore[attr-defined]
    html = refused.get_data(as_text=True)  # type: ignore[attr-defined]
    assert 'data-line="3"' in html and "3 行目" in html and "カタカナ" in html
    assert store.appointments_on(TOMORROW) == []
    assert upload(client, b"").status_code == 400  # type: ignore[attr-defined]
    taken = upload(client, csv_of(*ROWS).encode("cp932"))
    assert taken.status_code == 303  # type: ignore[attr-defined]
    html = client.get(taken.headers["Location"]).get_data(as_text=True)  # type: ignore[attr-defined]
    assert "3 件の予約を取り込みました" in html
    assert html.count("data-appointment-id=") == 3 and "ヤマダ タロウ" in html
    rows = store.appointments_on(TOMORROW)
    store.record_precheck(rows[0].id, klass="valid", raw=b"", checked_at=NOW, actor="t")
    store.record_precheck(rows[1].id, klass="not_found", raw=b"", checked_at=NOW, actor="t")
    html = client.get("/appointments?day=2031-05-07").get_data(as_text=True)
    assert "3件（正常1件・要確認1件）" in html and "未確認 1 件" in html
    only = client.get("/appointments?day=2031-05-07&attention=1").get_data(as_text=True)
    assert only.count("data-appointment-id=") == 1 and 'data-precheck="not_found"' in only
    english = client.get("/appointments?day=2031-05-07&lang=en").get_data(as_text=True)
    assert "3 appointments (1 fine, 1 need attention)" in english
    assert client.get("/appointments?day=bad").status_code == 200
    # A list past the staff app's usual body limit is taken from the page too.
    many = csv_of(*[ROWS[0].replace("P001", f"Q{i:04}") for i in range(2000)]).encode("cp932")
    assert len(many) > 64 * 1024
    assert upload(client, many).status_code == 303  # type: ignore[attr-defined]
    assert len(store.appointments_on(TOMORROW)) == 2003
    views = [e for e in store.audit_entries() if e.action == "appointments.view"]
    assert views and views[0].actor == "reception"


def test_words_for_every_precheck_class() -> None:
    for lang in ("ja", "en"):
        counts = day_view([], lang, attention_only=False)["counts"]
        assert [c["klass"] for c in counts] == [k.value for k in PrecheckClass]
        assert all(c["label"] for c in counts)


def test_desk_row_shows_the_precheck_of_an_arrival(desk: Setup, store: Store) -> None:
    client = desk.signed_in()
    day = datetime(2031, 5, 7, 0, 30, tzinfo=UTC)  # 09:30 JST on the appointment's day
    rows = parse_appointments(csv_of(*ROWS).encode(), today=TODAY)
    store.import_appointments(rows, actor="reception", source="upload")
    first = store.appointments_on(TOMORROW)[1]
    store.record_precheck(first.id, klass="valid", raw=b"", checked_at=NOW, actor="t")
    store._clock = lambda: day  # the patient arrives the next morning
    mine = qualification(insurer_number=GOOD, symbol="記号1", number="1234")
    arrived = save(store, result(mine), "f-arrive")
    stranger = save(store, result(qualification(insurer_number=GOOD, number="9")), "f-other")
    html = client.get("/").get_data(as_text=True)
    assert html.count("前夜確認: 確認済・有効") == 1
    live = client.get(f"/api/confirmations/{arrived.id}").get_json()  # the page's script's
    assert live["precheck"] == "前夜確認: 確認済・有効"
    assert client.get(f"/api/confirmations/{stranger.id}").get_json()["precheck"] == ""


@pytest.mark.parametrize("problem", list(AppointmentProblem), ids=str)
def test_every_list_problem_has_words(problem: AppointmentProblem) -> None:
    if problem is AppointmentProblem.IDENTIFIER:
        return  # worded by the identifier's own texts (web/field_errors.py)
    said = {
        lang: problem_text(RowProblem(2, "kana", problem, limit=MAX_BYTES, other_line=1), lang)
        for lang in ("ja", "en")
    }
    assert said["ja"] != said["en"] and all(said.values())
    assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", said["en"].replace("“", ""))


# -- the token API ------------------------------------------------------------------------------
API = "/api/v1/appointments"


@pytest.fixture
def api(desk: Setup, store: Store) -> tuple[FlaskClient, str]:
    _row, secret = desk.services.api_tokens.create("レセコン", "kanri")
    return desk.staff.test_client(), secret


def test_api_needs_a_token(api: tuple[FlaskClient, str], store: Store) -> None:
    client, _secret = api
    data = csv_of(*ROWS).encode()
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = client.post(API, data=data, headers={**headers, "Content-Type": "text/csv"})
        assert r.status_code == 401 and "Bearer" in r.headers["WWW-Authenticate"]
    assert store.appointments_on(TOMORROW) == []


def test_api_refuses_a_bad_list_with_every_line(api: tuple[FlaskClient, str], store: Store) -> None:
    client, secret = api
    bad = csv_of(ROWS[0], "P9,yamada,19800401,06130013,,1,,2031-05-07 10:00").encode("cp932")
    auth = {"Authorization": f"Bearer {secret}", "Content-Type": "text/csv"}
    r = client.post(API + "?lang=en", data=bad, headers=auth)
    assert r.status_code == 400
    body = r.get_json()
    assert body["ok"] is False
    assert [(p["line"], p["field"], p["problem"]) for p in body["problems"]] == [
        (3, "kana", "kana"),
        (3, "insurer_number", "identifier"),
    ]
    assert body["problems"][0]["message"] == "The kana name must be written in katakana"
    assert store.appointments_on(TOMORROW) == []
    wrong_type = client.post(API, data=bad, headers={**auth, "Content-Type": "application/json"})
    assert wrong_type.status_code == 415


def test_api_imports_a_good_list(api: tuple[FlaskClient, str], store: Store) -> None:
    client, secret = api
    auth = {"Authorization": f"Bearer {secret}", "Content-Type": "text/csv; charset=shift_jis"}
    r = client.post(API, data=csv_of(*ROWS).encode("cp932"), headers=auth)
    assert r.status_code == 201 and r.get_json() == {"ok": True, "imported": 3}
    assert len(store.appointments_on(TOMORROW)) == 3
    entry = next(e for e in store.audit_entries() if e.action == "appointments.imported")
    assert entry.actor == "token:レセコン"
    assert "source=api" in entry.detail
    # A list past the staff app's usual body limit is still taken (up to the list's own cap).
    many = csv_of(*[ROWS[0].replace("P001", f"P{i:04}") for i in range(2000)]).encode()
    assert len(many) > 64 * 1024
    assert client.post(API, data=many, headers=auth).status_code == 201
