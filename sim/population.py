"""A deterministic synthetic insured population for the demo and the tests.

Every scenario reception meets (valid, preschool, 70–74, 後期高齢者, 国保, 限度額, lost or
replaced qualifications, not found, multiple matches, expired/revoked card certificates,
PIN trouble, characters outside JIS X 0208, 公費 and 医療扶助) has at least one person. Ages
are computed against a fixed reference date so the answers never drift with the calendar.
The record and its builder are sim/people.py; the 公費 and 医療扶助 people sim/grants.py.
"""

from __future__ import annotations

from datetime import date

from sim.grants import public_expense_scenarios
from sim.people import (
    AID_SETAGAYA,
    KOKUHO_OSAKA,
    KOKUHO_SETAGAYA,
    KOUKI_KANAGAWA,
    KOUKI_TOKYO,
    KUMIAI,
    KYOKAI,
    KYOSAI,
    Person,
    make_person,
)

__all__ = ["REFERENCE_DATE", "Person", "person", "population"]

REFERENCE_DATE = date(2026, 4, 1)  # ages, 70–74 and preschool status are stable against this


VALID_30 = "有効・3割 / valid, 30 %"


def _scenarios() -> list[Person]:
    sato = ("佐藤", "翔太")
    return [
        make_person(
            "P001",
            "有効・3割・本人 / valid, 30 %, insured person",
            sato,
            ("サトウ", "ショウタ"),
            "1",
            "19860512",
            KYOKAI,
            "40102030",
            "15",
        ),
        make_person(
            "P002",
            "有効・3割・家族 / valid, 30 %, dependant",
            ("佐藤", "陽子"),
            ("サトウ", "ヨウコ"),
            "2",
            "19880903",
            KYOKAI,
            "40102030",
            "15",
            branch="01",
            family_of=sato,
        ),
        make_person(
            "P003",
            "未就学児・2割 / preschool child, 20 %",
            ("佐藤", "陽翔"),
            ("サトウ", "ハルト"),
            "1",
            "20220117",
            KYOKAI,
            "40102030",
            "15",
            branch="02",
            family_of=sato,
            ratio="020",
            preschool=True,
        ),
        make_person(
            "P004",
            "70〜74歳・高齢受給者証2割 / age 70–74, elderly certificate 20 %",
            ("鈴木", "健一"),
            ("スズキ", "ケンイチ"),
            "1",
            "19540610",
            KYOSAI,
            "71",
            "3301",
            ratio="020",
            elderly_ratio="020",
            block="2-14-7",
        ),
        make_person(
            "P005",
            "70〜74歳・現役並み3割 / age 70–74, working-level income 30 %",
            ("鈴木", "恵子"),
            ("スズキ", "ケイコ"),
            "2",
            "19530920",
            KUMIAI,
            "22",
            "1408",
            ratio="030",
            elderly_ratio="030",
            block="5-1-12",
        ),
        make_person(
            "P006",
            "後期高齢者・1割 / late-stage elderly (75+), 10 %",
            ("高橋", "隆"),
            ("タカハシ", "タカシ"),
            "1",
            "19450303",
            KOUKI_TOKYO,
            "",
            "10293847",
            ratio="010",
            qualified="20200303",
            block="3-9-2",
        ),
        make_person(
            "P007",
            "後期高齢者・1割・JIS外の文字 (𠮷) / 75+, 10 %, name outside JIS X 0208",
            ("𠮷田", "花子"),
            ("ヨシダ", "ハナコ"),
            "2",
            "19400727",
            KOUKI_KANAGAWA,
            "",
            "20481632",
            ratio="010",
            qualified="20150727",
            block="1-1",
        ),
        make_person(
            "P008",
            "国保 (6桁の保険者番号)・3割 / National Health Insurance, 6-digit insurer",
            ("山本", "大輔"),
            ("ヤマモト", "ダイスケ"),
            "1",
            "19790214",
            KOKUHO_SETAGAYA,
            "世田谷",
            "0456123",
            block="4-3-18",
        ),
        make_person(
            "P009",
            "国保・3割・家族 / National Health Insurance, 30 %, household member",
            ("山本", "美咲"),
            ("ヤマモト", "ミサキ"),
            "2",
            "19810630",
            KOKUHO_SETAGAYA,
            "世田谷",
            "0456124",
            block="4-3-18",
        ),
        make_person(
            "P010",
            "限度額適用 (区分ウ)・3割 / cost cap (category ウ), 30 %",
            ("田中", "誠"),
            ("タナカ", "マコト"),
            "1",
            "19721108",
            KYOKAI,
            "40115577",
            "3",
            limit=("01", "A03"),
            block="2-2-5",
        ),
        make_person(
            "P011",
            "70〜74歳・限度額 (一般)・2割 / age 70–74 with cost cap, 20 %",
            ("中村", "浩二"),
            ("ナカムラ", "コウジ"),
            "1",
            "19520415",
            KOKUHO_OSAKA,
            "北",
            "1234567",
            ratio="020",
            elderly_ratio="020",
            limit=("01", "B04"),
            block="1-3-20",
        ),
        make_person(
            "P012",
            "後期高齢者・限度額 (低所得Ⅱ)・1割 / 75+ with cost cap, 10 %",
            ("小林", "久美子"),
            ("コバヤシ", "クミコ"),
            "2",
            "19380119",
            KOUKI_TOKYO,
            "",
            "10556677",
            ratio="010",
            limit=("03", "B05"),
            qualified="20130119",
            block="6-6-6",
        ),
        make_person(
            "P013",
            "資格喪失 (退職) / qualification lost (left job)",
            ("伊藤", "拓也"),
            ("イトウ", "タクヤ"),
            "1",
            "19900825",
            KUMIAI,
            "31",
            "2207",
            validity="2",
            qualified="20150401",
            lost=("20260228", "99"),
            block="8-1-4",
        ),
        make_person(
            "P014",
            "旧資格・新しい資格あり / old qualification, newer one exists",
            ("渡辺", "由美"),
            ("ワタナベ", "ユミ"),
            "2",
            "19850116",
            KYOKAI,
            "40133311",
            "8",
            validity="3",
            qualified="20100401",
            lost=("20260331", "03"),
            newer_id="P015",
            block="3-21-1",
        ),
        make_person(
            "P015",
            "P014の新しい資格 (カードはP014) / P014's newer qualification",
            ("渡辺", "由美"),
            ("ワタナベ", "ユミ"),
            "2",
            "19850116",
            KUMIAI,
            "45",
            "1101",
            qualified="20260401",
            card_status="none",
            block="3-21-1",
        ),
        make_person(
            "P016",
            "該当資格なし (未登録) / not found (not registered)",
            ("林", "さくら"),
            ("ハヤシ", "サクラ"),
            "2",
            "19990402",
            KYOKAI,
            "40177702",
            "21",
            validity="4",
            registered=False,
            block="1-7-9",
        ),
        make_person(
            "P017",
            "複数該当 (P018と同じ番号) / multiple matches (same numbers as P018)",
            ("加藤", "蓮"),
            ("カトウ", "レン"),
            "1",
            "19950310",
            KYOKAI,
            "40188803",
            "42",
            validity="5",
            duplicate_of="P018",
            block="2-5-3",
        ),
        make_person(
            "P018",
            "複数該当 (P017の重複登録) / multiple matches (duplicate of P017)",
            ("加籐", "蓮"),
            ("カトウ", "レン"),
            "1",
            "19950310",
            KYOKAI,
            "40188803",
            "42",
            validity="5",
            duplicate_of="P017",
            card_status="none",
            block="2-5-3",
        ),
        make_person(
            "P019",
            "電子証明書の有効期限切れ / card certificate expired",
            ("吉田", "美咲"),
            ("ヨシダ", "ミサキ"),
            "2",
            "19770721",
            KYOKAI,
            "40120304",
            "7",
            card_status="expired",
            block="4-4-1",
        ),
        make_person(
            "P020",
            "電子証明書の失効 / card certificate revoked",
            ("山田", "浩二"),
            ("ヤマダ", "コウジ"),
            "1",
            "19680929",
            KUMIAI,
            "22",
            "1522",
            card_status="revoked",
            block="7-2-10",
        ),
        make_person(
            "P021",
            "暗証番号 残り1回 / PIN: one try left",
            ("佐々木", "結衣"),
            ("ササキ", "ユイ"),
            "2",
            "20010505",
            KYOKAI,
            "40144455",
            "9",
            pin_tries_left=1,
            block="5-5-5",
        ),
        make_person(
            "P022",
            "暗証番号ロック / PIN blocked",
            ("山口", "隆"),
            ("ヤマグチ", "タカシ"),
            "1",
            "19630101",
            KYOSAI,
            "71",
            "4011",
            pin_tries_left=0,
            block="9-1-1",
        ),
        make_person(
            "P023",
            "医療扶助・有効（未登録） / public medical aid (unregistered)",
            ("松本", "真由美"),
            ("マツモト", "マユミ"),
            "2",
            "19740612",
            AID_SETAGAYA,
            "",
            "7700123",
            ratio="",
            validity="6",
            card_classification="A1",
            block="2-9-8",
        ),
        make_person(
            "P024",
            "有効・3割・JIS外の文字 (髙) / valid, 30 %, name outside JIS X 0208",
            ("髙橋", "陽菜"),
            ("タカハシ", "ヒナ"),
            "2",
            "19920218",
            KUMIAI,
            "31",
            "2290",
            block="1-12-3",
        ),
        make_person(
            "P025",
            "カードなし (資格確認書) / no My Number card (qualification certificate)",
            ("井上", "健一"),
            ("イノウエ", "ケンイチ"),
            "1",
            "19830807",
            KYOKAI,
            "40199901",
            "11",
            card_status="none",
            block="6-1-2",
        ),
        make_person(
            "P026",
            "有効・3割・暗証番号5678 / valid, 30 %, PIN 5678",
            ("木村", "花子"),
            ("キムラ", "ハナコ"),
            "2",
            "19960923",
            KYOSAI,
            "71",
            "5120",
            pin="5678",
            block="3-3-3",
        ),
    ]


_SURNAMES = (
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("中村", "ナカムラ"),
    ("加藤", "カトウ"),
    ("山田", "ヤマダ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("清水", "シミズ"),
    ("斎藤", "サイトウ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("石川", "イシカワ"),
)
_MALE = (
    ("翔太", "ショウタ"),
    ("健太", "ケンタ"),
    ("大輝", "ダイキ"),
    ("拓海", "タクミ"),
    ("直樹", "ナオキ"),
    ("和也", "カズヤ"),
    ("修", "オサム"),
    ("悠真", "ユウマ"),
)
_FEMALE = (
    ("美穂", "ミホ"),
    ("彩", "アヤ"),
    ("恵", "メグミ"),
    ("千尋", "チヒロ"),
    ("智子", "トモコ"),
    ("麻衣", "マイ"),
    ("愛", "アイ"),
    ("奈々", "ナナ"),
)
_FILLER_INSURERS = (KYOKAI, KUMIAI, KYOSAI, KOKUHO_OSAKA)


def _filler(index: int) -> Person:
    """Ordinary valid 30 % people, spread over insurers and ages 24–67 (deterministic)."""
    surname = _SURNAMES[index % len(_SURNAMES)]
    male = index % 2 == 1
    given = (_MALE if male else _FEMALE)[(index * 3) % 8]
    year = 1958 + (index * 7) % 45
    birthdate = f"{year}{1 + (index * 5) % 12:02d}{1 + (index * 11) % 28:02d}"
    insurer = _FILLER_INSURERS[index % len(_FILLER_INSURERS)]
    symbol = {KYOKAI: f"402{index:05d}", KUMIAI: "31", KYOSAI: "71", KOKUHO_OSAKA: "北"}[insurer]
    return make_person(
        f"P{index:03d}",
        VALID_30,
        (surname[0], given[0]),
        (surname[1], given[1]),
        "1" if male else "2",
        birthdate,
        insurer,
        symbol,
        f"{5000 + index * 37}",
        block=f"{1 + index % 9}-{index}-{1 + index % 4}",
        qualified=f"{max(year + 22, 2012)}0401",
    )


def _expiry_scenarios() -> list[Person]:
    """Cards whose certificate is near or past its expiry (the 2025 rules, DOMAIN.md §10);
    after the fillers, so the fillers' ids stay what they were. P019 is past its grace."""
    return [
        make_person(
            "P049",
            "電子証明書の期限まで3か月以内 / card certificate expires within 3 months",
            ("清水", "昭"),
            ("シミズ", "アキラ"),
            "1",
            "19590314",
            KYOKAI,
            "40130415",
            "8",
            card_status="expiring",
            block="5-1-9",
        ),
        make_person(
            "P050",
            "電子証明書の期限切れ（猶予期間内） / card certificate expired, within grace",
            ("池田", "和子"),
            ("イケダ", "カズコ"),
            "2",
            "19550830",
            KUMIAI,
            "31",
            "3377",
            card_status="grace",
            block="8-3-2",
        ),
    ]


def population() -> tuple[Person, ...]:
    people = _scenarios()
    people += [_filler(i) for i in range(len(people) + 1, 49)]
    people += _expiry_scenarios()
    people += public_expense_scenarios()
    return tuple(people)


def person(person_id: str) -> Person:
    for candidate in population():
        if candidate.id == person_id:
            return candidate
    known = f"{population()[0].id}–{population()[-1].id}"
    raise KeyError(f"人物 {person_id} は存在しません / no such person: {person_id} ({known})")
