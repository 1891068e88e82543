"""Every meaning sync/ and device/ hand to the pages has its words in web/, in both languages.

Built by iterating over the enums and tables that carry those meanings, so a member added there
without its texts here fails this file instead of a page (a consent kind without a name used to
give the kiosk a 500).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from device.cardtrust import CardTrustProblem
from device.checks import InputProblem
from device.clinical import REFUSAL_REASONS
from device.flow import EndReason, VisitState
from device.status import Fact, StatusKind
from device.technician import VERDICT_JA
from sync.codes import CONSENT_KINDS, Verdict
from sync.identifiers import IdentifierProblem
from sync.precheck import PrecheckClass
from web import labels, strings_cardtrust
from web.labels import CONSENT_KIND, Badge, consent_kind_text
from web.present import DESK_STATES, STRINGS
from web.reception import CHECK_FIELDS

from .test_web import Setup, setup, store

STAFF_CSS = (Path(__file__).parents[2] / "web" / "static" / "staff.css").read_text("utf-8")

__all__ = ["setup", "store"]  # fixtures used here, defined beside the other web tests

_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")


def both(pair: tuple[str, str]) -> None:
    ja, en = pair
    assert ja and en, pair
    assert _JAPANESE.search(ja), pair
    assert not _JAPANESE.search(en), pair


@pytest.mark.parametrize("verdict", list(Verdict), ids=str)
def test_every_verdict_has_words_and_a_class(verdict: Verdict) -> None:
    badge = Badge.of(verdict)
    both((badge.ja, badge.en))
    assert re.search(rf"\.badge\.{badge.css}\b", STAFF_CSS)  # a class the stylesheet styles


def test_every_badge_is_a_verdict() -> None:
    assert [b.name for b in Badge] == [v.name for v in Verdict]


def test_the_terminal_report_words_verdicts_as_the_desk_does() -> None:
    assert VERDICT_JA == {v: Badge.of(v).ja for v in Verdict}


@pytest.mark.parametrize("reason", list(EndReason), ids=str)
def test_every_end_reason_has_words_for_staff(reason: EndReason) -> None:
    both(STRINGS["reason_" + reason.value])


def test_kiosk_reason_texts_are_end_reasons() -> None:
    kiosk = {key.removeprefix("kiosk_reason_") for key in STRINGS if key.startswith("kiosk_")}
    kiosk = {key for key in kiosk if not key.startswith("kiosk_")}
    assert kiosk <= {r.value for r in EndReason}
    for reason in kiosk:
        both(STRINGS["kiosk_reason_" + reason])


@pytest.mark.parametrize("state", list(VisitState), ids=str)
def test_every_visit_state_has_words(state: VisitState) -> None:
    both(DESK_STATES[state.value])


@pytest.mark.parametrize("kind", CONSENT_KINDS)
def test_every_consent_kind_has_words(kind: str) -> None:
    both(CONSENT_KIND[kind])
    both(STRINGS["consent_desc_" + kind])  # the kiosk's line under the name


def test_no_words_for_a_kind_nobody_can_choose() -> None:
    assert set(CONSENT_KIND) == set(CONSENT_KINDS)


@pytest.mark.parametrize("problem", [p for p in InputProblem if p is not InputProblem.IDENTIFIER])
def test_every_input_problem_has_words(problem: InputProblem) -> None:
    both(STRINGS["input_" + problem.value])


@pytest.mark.parametrize("problem", list(IdentifierProblem), ids=str)
def test_every_identifier_problem_has_words(problem: IdentifierProblem) -> None:
    both(STRINGS["identifier_" + problem.value])


@pytest.mark.parametrize("problem", list(CardTrustProblem), ids=str)
def test_every_card_trust_problem_has_words(problem: CardTrustProblem) -> None:
    both(strings_cardtrust.STRINGS["card_untrusted_" + problem.value])


def test_no_words_for_a_card_trust_problem_that_does_not_exist() -> None:
    keys = {k.removeprefix("card_untrusted_") for k in strings_cardtrust.STRINGS}
    assert keys == {p.value for p in CardTrustProblem}


@pytest.mark.parametrize(
    "field",
    [*CHECK_FIELDS, "confirmation", "medical_institution_code", "check_digit_body"],
)
def test_every_checked_field_has_a_name(field: str) -> None:
    both(STRINGS["field_" + field])


@pytest.mark.parametrize("reason", REFUSAL_REASONS)
def test_every_clinical_refusal_has_words(reason: str) -> None:
    both(STRINGS["cl_refused_" + reason])


def test_code_tables_have_both_languages() -> None:
    tables = [v for k, v in vars(labels).items() if k.isupper() and isinstance(v, dict)]
    assert len(tables) >= 12
    for table in tables:
        for entry in table.values():
            both((entry.ja, entry.en))


# -- the admin status page ----------------------------------------------------------------
# Facts whose words are keyed by a value of the finding, not by the fact alone; TEXT and
# LOG_RECORD are said by something else (an error message, a log line) and need none.
_STATUS_VARIANTS: dict[Fact, tuple[str, ...]] = {
    Fact.TEXT: (),
    Fact.LOG_RECORD: (),
    Fact.READER_CARD: ("reader_card_present", "reader_card_none", "reader_card_unknown"),
    Fact.NTP: ("ntp_yes", "ntp_no", "ntp_unknown"),
    Fact.CLOCK_OFFSET: ("clock_ahead", "clock_behind"),
}


@pytest.mark.parametrize("kind", list(StatusKind), ids=str)
def test_every_status_kind_has_a_name(kind: StatusKind) -> None:
    ja, en = STRINGS["status_" + kind.value]
    assert ja and en and not _JAPANESE.search(en)


@pytest.mark.parametrize("fact", list(Fact), ids=str)
def test_every_status_fact_has_words(fact: Fact) -> None:
    for key in _STATUS_VARIANTS.get(fact, (fact.value,)):
        ja, en = STRINGS["status_" + key]
        assert ja and en and not _JAPANESE.search(en), key
        # the page shows one language: each side says it all, with the same values
        assert set(re.findall(r"{(\w+)}", ja)) == set(re.findall(r"{(\w+)}", en)), key


# -- a kind the config accepts but nobody worded: shown by its key, not a 500 ---------------
def test_consent_kind_without_words_shows_its_key() -> None:
    assert consent_kind_text("drug", "ja") == "薬剤情報"
    assert consent_kind_text("drug", "en") == "drug information"
    assert consent_kind_text("allergy", "ja") == "allergy"


def test_kiosk_page_with_a_kind_without_words(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("web.kiosk.CONSENT_KINDS", (*CONSENT_KINDS, "allergy"))
    r = setup.kiosk.test_client().get("/")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "allergy" in page and "薬剤情報" in page


# -- moved here with the words from sync/codes.py (Badge was the verdict with its words) -----
@pytest.mark.parametrize(
    ("member", "ja", "css"),
    [
        (Badge.VALID, "有効", "ok"),
        (Badge.INVALID, "無効", "warn"),
        (Badge.INVALID_NEWER, "無効（新しい資格あり）", "warn"),
        (Badge.NOT_FOUND, "該当資格なし", "warn"),
        (Badge.MULTIPLE, "複数該当", "warn"),
        (Badge.UNREGISTERED_AID, "有効（未登録）", "warn"),
        (Badge.ERROR, "エラー", "error"),
        (Badge.OFFLINE, "本人確認済・オンライン未確認", "offline"),
    ],
)
def test_badge_members(member: Badge, ja: str, css: str) -> None:
    assert member.ja == ja
    assert member.css == css
    assert member.en and not _JAPANESE.search(member.en)


def test_badge_members_are_complete() -> None:
    assert {b.name for b in Badge} == {
        "VALID",
        "INVALID",
        "INVALID_NEWER",
        "NOT_FOUND",
        "MULTIPLE",
        "UNREGISTERED_AID",
        "ERROR",
        "OFFLINE",
    }


@pytest.mark.parametrize("klass", list(PrecheckClass), ids=str)
def test_every_precheck_class_has_words(klass: PrecheckClass) -> None:
    both(STRINGS[f"precheck_{klass.value}"])
