"""The read API (web/api.py) through the staff app: the bearer gate, cursor paging, offline
rows, the JSON shape, the FHIR Bundle (validated with fhir.resources' R4B models) and one audit
entry per request that shows answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from flask.testing import FlaskClient
from pydantic import ValidationError

from device.accounts import Accounts
from device.apitokens import ApiTokens
from device.config import load_config
from device.events import EventBus
from device.flow import VisitFlow
from sync.codes import Verdict
from sync.fhir import INSURER_NUMBER_SYSTEM, coverage_eligibility_response
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Confirmation, Store, VisitRecord
from sync.xmlmsg import (
    ConsentState,
    ElderlyInfo,
    LimitInfo,
    QualificationResult,
    SearchInfo,
    build_result,
)
from tests.fake_services import services_with
from web.api import id_ranges
from web.app import create_staff_app
from web.auth import SESSION_COOKIE

from .test_web import qualification, result

PASSWORD = "api password 1"
FHIR = "/api/v1/fhir/CoverageEligibilityResponse"
JSON = "/api/v1/confirmations"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2031, 5, 6, 1, 2, 3, tzinfo=UTC)  # fixed, not today

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Api:
    store: Store
    tokens: ApiTokens
    accounts: Accounts
    client: FlaskClient
    secret: str
    clock: Clock

    def get(self, path: str, secret: str | None = None, **headers: str) -> Any:
        auth = {"Authorization": f"Bearer {secret if secret is not None else self.secret}"}
        return self.client.get(path, headers={**auth, **headers})

    def reads(self) -> list[tuple[str, str, str, str]]:
        return [
            (e.actor, e.action, e.subject, e.detail)
            for e in reversed(self.store.audit_search())
            if e.action == "api.read"
        ]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    clock = Clock()
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock)
    tokens = ApiTokens(store, clock)
    accounts = Accounts(store)
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path), "kiosk_port": 18081})
    services = services_with(
        config=config,
        store=store,
        bus=EventBus(),
        flow=cast(VisitFlow, object()),
        accounts=accounts,
        api_tokens=tokens,
    )
    app = create_staff_app(config, services)
    _row, secret = tokens.create("レセコン", "kanri")
    yield Api(store, tokens, accounts, app.test_client(), secret, clock)
    store.close()


def save(store: Store, res: QualificationResult, *, kind: str = "card", n: int = 0) -> Confirmation:
    file_id = f"f{n}-{kind}"
    res = QualificationResult(**{**res.__dict__, "file_id": file_id})
    return store.save_confirmation(
        file_id=file_id,
        raw_result=build_result(res),
        result=res,
        kind=kind,
        method="pin" if kind == "card" else "numbers",
        actor="reader",
    )


def save_offline(store: Store, earlier: int | None, n: int = 0) -> Confirmation:
    at = store.now()
    visit = VisitRecord(f"v{n}", at, at, "reader 0", "pin", "done")
    return store.save_offline_visit(
        file_id=f"off{n}",
        visit=visit,
        card="card",
        earlier_id=earlier,
        actor="reader",
        recheck=None,
    )


def insured(**changes: Any) -> QualificationResult:
    q = qualification(
        consents=(ConsentState("drug", "1"), ConsentState("checkup", "0")),
        qualification_date="20200401",
        **changes,
    )
    return result(q)


# -- the gate ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [JSON, FHIR])
def test_no_token_wrong_token_and_other_schemes_are_401(api: Api, path: str) -> None:
    save(api.store, insured())
    cases: list[dict[str, str]] = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer onshi_wrong"},
        {"Authorization": f"Bearer {api.secret}x"},
        {"Authorization": f"Basic {api.secret}"},
        {"Authorization": api.secret},
    ]
    for headers in cases:
        r = api.client.get(path, headers=headers)
        assert r.status_code == 401, headers
        challenge = r.headers["WWW-Authenticate"]
        assert challenge.startswith("Bearer realm=")
        assert ('error="invalid_token"' in challenge) == bool(headers.get("Authorization"))
        assert "山田" not in r.get_data(as_text=True)
    assert api.reads() == []


def test_the_fhir_route_refuses_with_an_operation_outcome(api: Api) -> None:
    r = api.client.get(FHIR)
    assert r.status_code == 401 and r.mimetype == "application/fhir+json"
    assert r.get_json(force=True)["resourceType"] == "OperationOutcome"


def test_a_revoked_token_is_401_at_once(api: Api) -> None:
    save(api.store, insured())
    assert api.get(JSON).status_code == 200
    (row,) = api.tokens.list()
    api.tokens.revoke(row.id, "kanri")
    r = api.get(JSON)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize("role", ["reception", "admin"])
def test_a_staff_session_cookie_alone_opens_nothing(api: Api, role: str) -> None:
    save(api.store, insured())
    user = api.accounts.create_user(f"u-{role}", role, [role], PASSWORD, actor="test")
    session = api.accounts.start_session(user, client="test")
    api.accounts.complete_second_factor(session)
    api.client.set_cookie(SESSION_COOKIE, session)
    for path in (JSON, FHIR):
        assert api.client.get(path).status_code == 401
    # …and a token works beside any cookie, even a session still waiting for its second factor
    pending = api.accounts.start_session(user, client="test")
    api.client.set_cookie(SESSION_COOKIE, pending)
    assert api.get(JSON).status_code == 200


def test_only_get_no_state_change(api: Api) -> None:
    r = api.client.post(JSON, headers={"Authorization": f"Bearer {api.secret}"})
    assert r.status_code == 405


# -- paging -----------------------------------------------------------------------------------
def test_cursor_paging_oldest_first_without_gaps_or_repeats(api: Api) -> None:
    stored = [save(api.store, insured(), n=i) for i in range(7)]
    seen: list[int] = []
    since = 0
    pages = 0
    while True:
        body = api.get(f"{JSON}?since={since}&limit=3").get_json()
        seen += [c["id"] for c in body["confirmations"]]
        pages += 1
        assert body["next"] == (seen[-1] if seen else 0)
        since = body["next"]
        if not body["more"]:
            break
    assert seen == [c.id for c in stored] and pages == 3
    later = save(api.store, insured(), n=99)
    body = api.get(f"{JSON}?since={since}").get_json()
    assert [c["id"] for c in body["confirmations"]] == [later.id]
    assert api.get(f"{JSON}?since={later.id}").get_json() == {
        "confirmations": [],
        "next": later.id,
        "more": False,
    }


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=x",
        "limit=１０",  # full-width digits
        "since=-1",
        "since=1.5",
        "since=99999999999999999999",
        "since=",
    ],
)
def test_bad_parameters_are_400_and_show_nothing(api: Api, query: str) -> None:
    save(api.store, insured())
    r = api.get(f"{JSON}?{query}")
    assert r.status_code == 400 and r.get_json()["ok"] is False and r.get_json()["message"]
    f = api.get(f"{FHIR}?{query}")
    assert f.status_code == 400 and f.get_json(force=True)["resourceType"] == "OperationOutcome"
    assert api.reads() == []


def test_the_largest_page_is_500(api: Api) -> None:
    for i in range(3):
        save(api.store, insured(), n=i)
    assert api.get(f"{JSON}?limit=500").status_code == 200


# -- the JSON shape ---------------------------------------------------------------------------
def test_json_of_an_online_answer(api: Api) -> None:
    stored = save(
        api.store,
        result(
            qualification(
                contribution_ratio="030",
                elderly=ElderlyInfo(ratio="020"),
                limit=LimitInfo(classification="01", flag="B03"),
                consents=(ConsentState("drug", "1"),),
                disqualification_date="20310331",
            ),
            processing_message="確認しました",
        ),
        kind="numbers",
    )
    r = api.get(JSON)
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.headers["Cache-Control"] == "no-store"
    (row,) = r.get_json()["confirmations"]
    assert row == {
        "id": stored.id,
        "file_id": stored.file_id,
        "created_at": "2031-05-06T01:02:03Z",
        "kind": "numbers",
        "method": "numbers",
        "source": "online",
        "verdict": "VALID",
        "earlier_id": None,
        "validity": "1",
        "message": "確認しました",
        "qualification": {
            "name": "山田　太郎",
            "name_kana": "ヤマダ　タロウ",
            "birthdate": "1980-04-01",
            "sex": "1",
            "insurer_number": "06130012",
            "insurer_name": "東京都市町村職員共済組合",
            "symbol": "記号1",
            "number": "1234",
            "branch": "01",
            "personal_family": "1",
            "card_classification": "01",
            "contribution_ratio": 30,
            "elderly_contribution_ratio": 20,
            "limit_flag": "B03",
            "qualification_date": None,
            "disqualification_date": "2031-03-31",
            "consents": {"drug": "1"},
            "public_expenses": [],
            "medical_tickets": [],
        },
    }
    assert "山田　太郎" in r.get_data(as_text=True)  # UTF-8, not \\u escapes


def test_offline_rows_say_so_and_point_at_the_earlier_answer(api: Api) -> None:
    earlier = save(api.store, insured())
    offline = save_offline(api.store, earlier.id)
    none_before = save_offline(api.store, None, n=1)
    rows = api.get(JSON).get_json()["confirmations"]
    assert [r["id"] for r in rows] == [earlier.id, offline.id, none_before.id]
    assert rows[1]["source"] == "offline" and rows[1]["verdict"] == Verdict.OFFLINE.name
    assert rows[1]["earlier_id"] == earlier.id and rows[1]["qualification"] is None
    assert rows[2]["earlier_id"] is None
    bundle = api.get(FHIR).get_json(force=True)
    resources = [e["resource"] for e in bundle["entry"]]
    assert [r["outcome"] for r in resources] == ["complete", "queued", "queued"]
    assert resources[1]["extension"][0]["valueReference"] == {
        "reference": f"CoverageEligibilityResponse/{earlier.id}"
    }
    assert "insurance" not in resources[1] and "contained" not in resources[1]
    Bundle.model_validate(bundle)
    for resource in resources:
        check_bindings(resource)


def test_not_found_and_abnormal_answers(api: Api) -> None:
    search = SearchInfo(insurer_number="06130012", number="9", birthdate="19800401")
    not_found = save(api.store, result(validity="4", search=search), kind="numbers")
    abnormal = save(
        api.store,
        result(
            segment_of_result="9",
            processing_status="",
            validity="",
            error_code="EQ0001",
            error_message="システムエラー",
        ),
        n=1,
    )
    rows = api.get(JSON).get_json()["confirmations"]
    assert [(r["verdict"], r["qualification"]) for r in rows] == [
        ("NOT_FOUND", None),
        ("ERROR", None),
    ]
    assert rows[1]["message"] == "システムエラー"
    first, second = (coverage_eligibility_response(c) for c in (not_found, abnormal))
    # (the rows as stored by this test, without reading them back)
    assert first["outcome"] == "complete" and "insurance" not in first
    assert first["insurer"]["identifier"] == {"system": INSURER_NUMBER_SYSTEM, "value": "06130012"}
    assert second["outcome"] == "error"
    assert second["error"][0]["code"]["coding"][0]["code"] == "EQ0001"
    assert second["purpose"] == ["discovery"] and first["purpose"] == ["validation"]
    bundle = api.get(FHIR).get_json(force=True)
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        check_bindings(entry["resource"])


# -- FHIR -------------------------------------------------------------------------------------
def test_fhir_bundle_of_every_kind_of_row_validates(api: Api) -> None:
    save(api.store, insured(), n=1)
    save(api.store, insured(personal_family="2", branch="02"), kind="numbers", n=2)
    save(api.store, result(qualification(), validity="2"), n=3)  # no longer insured
    save(api.store, result(qualification(), qualification(), validity="5"), n=4)  # several
    save(api.store, result(qualification(name="ヤマダ", sex="3", name_kana="")), n=5)
    save_offline(api.store, None)
    r = api.get(f"{FHIR}?limit=4")
    assert r.status_code == 200 and r.mimetype == "application/fhir+json"
    bundle = r.get_json(force=True)
    model = Bundle.model_validate(bundle)
    assert model.type == "searchset" and len(model.entry or []) == 4
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert links["next"].endswith(f"{FHIR}?since={bundle['entry'][-1]['resource']['id']}&limit=4")
    rest = api.client.get(
        links["next"].removeprefix("http://localhost"),
        headers={"Authorization": f"Bearer {api.secret}"},
    ).get_json(force=True)
    assert len(rest["entry"]) == 2 and "next" not in {link["relation"] for link in rest["link"]}
    for entry in [*bundle["entry"], *rest["entry"]]:
        check_bindings(entry["resource"])
        resource = CoverageEligibilityResponse.model_validate(entry["resource"])
        assert resource.status == "active"
        assert entry["fullUrl"].endswith(f"/CoverageEligibilityResponse/{resource.id}")


def test_fhir_mapping_of_an_insured_answer(api: Api) -> None:
    stored = save(
        api.store,
        result(
            qualification(
                contribution_ratio="030",
                limit=LimitInfo(flag="A03"),
                qualification_date="20200401",
            )
        ),
    )
    resource = coverage_eligibility_response(stored)
    check_bindings(resource)
    model = CoverageEligibilityResponse.model_validate(resource)
    assert model.outcome == "complete" and model.purpose == ["discovery"]
    assert resource["identifier"][0]["value"] == stored.file_id
    assert resource["patient"] == {"reference": "#patient"}
    assert resource["insurer"] == {
        "identifier": {"system": INSURER_NUMBER_SYSTEM, "value": "06130012"},
        "display": "東京都市町村職員共済組合",
    }
    assert resource["servicedDate"] == "2026-04-01"
    patient, coverage = resource["contained"]
    assert patient["birthDate"] == "1980-04-01" and patient["gender"] == "male"
    assert patient["name"][0]["family"] == "山田" and patient["name"][0]["given"] == ["太郎"]
    assert patient["name"][1]["text"] == "ヤマダ　タロウ"
    assert coverage["status"] == "active" and coverage["subscriberId"] == "1234"
    assert coverage["relationship"]["coding"][0]["code"] == "self"
    (insurance,) = resource["insurance"]
    assert insurance["inforce"] is True and insurance["coverage"] == {"reference": "#coverage"}
    assert insurance["benefitPeriod"] == {"start": "2020-04-01"}
    copay, limit = insurance["item"]
    assert copay["benefit"] == [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/benefit-type",
                        "code": "copay-percent",
                    }
                ]
            },
            "allowedUnsignedInt": 30,
        }
    ]
    assert limit["benefit"][0]["allowedString"] == "A03"
    invalid = coverage_eligibility_response(
        save(api.store, result(qualification(), validity="2"), n=1)
    )
    assert invalid["insurance"][0]["inforce"] is False
    assert invalid["contained"][1]["status"] == "cancelled"


# The model library checks structure, cardinality, types and formats, not the codes of
# required bindings: those (R4 = R4B for these value sets) are checked here.
REQUIRED_CODES = {
    "status": {"active", "cancelled", "draft", "entered-in-error"},  # fm-status
    "outcome": {"queued", "complete", "error", "partial"},  # remittance-outcome
}
PURPOSES = {"auth-requirements", "benefits", "discovery", "validation"}
GENDERS = {"male", "female", "other", "unknown"}


def check_bindings(resource: dict[str, Any]) -> None:
    for element, codes in REQUIRED_CODES.items():
        assert resource[element] in codes, (element, resource[element])
    assert resource["purpose"] and set(resource["purpose"]) <= PURPOSES
    for contained in resource.get("contained", []):
        if contained["resourceType"] == "Patient":
            assert contained["gender"] in GENDERS
        else:
            assert contained["status"] in REQUIRED_CODES["status"]
    CoverageEligibilityResponse.model_validate(resource)


def test_the_checks_catch_a_broken_resource() -> None:
    """The model library and the binding checks are strict enough to fail this file's subject
    when it is wrong."""
    at = datetime(2031, 5, 6, tzinfo=UTC)
    row = Confirmation(1, "f1", None, at, "card", "pin", "online", "VALID", insured())
    good = coverage_eligibility_response(row)
    check_bindings(good)
    patient, coverage = good["contained"]
    for broken in (
        {**good, "status": "fine"},
        {**good, "outcome": "done"},
        {**good, "purpose": ["check"]},
        {**good, "purpose": []},
        {**good, "created": "yesterday"},
        {k: v for k, v in good.items() if k != "insurer"},
        {k: v for k, v in good.items() if k != "patient"},
        {**good, "insurance": [{**good["insurance"][0], "inforce": "maybe"}]},
        {**good, "contained": [{**patient, "birthDate": "1980-13-01"}, coverage]},
        {**good, "contained": [{**patient, "gender": "m"}, coverage]},
        {**good, "contained": [patient, {**coverage, "status": "valid"}]},
        {**good, "unknown": 1},
    ):
        with pytest.raises((ValidationError, AssertionError)):
            check_bindings(broken)


# -- audit ------------------------------------------------------------------------------------
def test_every_read_that_shows_answers_is_audited_with_its_ids(api: Api) -> None:
    ids = [save(api.store, insured(), n=i).id for i in range(5)]
    api.get(f"{JSON}?limit=3")
    api.get(f"{FHIR}?since={ids[2]}")
    api.get(f"{JSON}?since={ids[-1]}")  # nothing new: nothing shown, nothing audited
    (row,) = api.tokens.list()
    assert api.reads() == [
        (
            "token:レセコン",
            "api.read",
            "confirmations:api",
            f"token={row.id} json ids={ids[0]}-{ids[2]}",
        ),
        (
            "token:レセコン",
            "api.read",
            "confirmations:api",
            f"token={row.id} fhir ids={ids[3]}-{ids[4]}",
        ),
    ]
    assert api.store.verify_audit() is None


def test_last_used_is_shown_after_a_read(api: Api) -> None:
    save(api.store, insured())
    api.clock.now += timedelta(minutes=5)
    api.get(JSON)
    (row,) = api.tokens.list()
    assert row.last_used_at == api.clock.now


def test_id_ranges() -> None:
    assert id_ranges([]) == ""
    assert id_ranges([5]) == "5"
    assert id_ranges([1, 2, 3, 5, 7, 8]) == "1-3,5,7-8"
    assert id_ranges([3, 1, 2]) == "1-3"


def test_json_is_plain_json(api: Api) -> None:
    save(api.store, insured())
    json.loads(api.get(JSON).get_data(as_text=True))
