"""A deterministic synthetic insured population for the demo and the tests.

Every scenario reception meets (valid, preschool, 70–74, 後期高齢者, 国保, 限度額, lost or
replaced qualifications, not found, multiple matches, expired/revoked card certificates,
PIN trouble, characters outside JIS X 0208) has at least one person. Ages are computed
against a fixed reference date so the answers never drift with the calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sync.identifiers import check_digit

REFERENCE_DATE = date(2026, 4, 1)  # ages, 70–74 and preschool status are stable against this
DEFAULT_PIN = "1234"
SPACE = "\u3000"  # names are written with a full-width space between family and given name


@dataclass(frozen=True)
class Grant:
    """A 公費 beside the insurance (難病, 乳幼児医療): what the answer's PublicExpenseInfo says."""

    number: str  # 公費負担者番号, 8 digits with the insurer-number check digit
    recipient: str  # 受給者番号, 7 digits, same check digit rule
    valid_start: str
    valid_end: str


@dataclass(frozen=True)
class AidTicket:
    """A 医療扶助 ticket the welfare office issues for one month. Its dates follow the month
    asked about (the request's QualificationConfirmationDate), so answers never drift."""

    issue_number: str
    month_offset: int = 0  # 0: the month asked about; -1: the month before (none issued since)
    elsewhere: tuple[str, str] = ("", "")  # (code, name) of another designated institution
    ticket_type: str = "01"  # 01 医療券, 02 調剤券
    treatment_type: str = "02"  # 01 入院 02 入院外 03 歯科 04 調剤 05 訪問看護
    self_pay: int = 0  # 本人支払額 (yen)
    remarks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Person:
    id: str  # "P001"…
    scenario: str  # "有効・3割 / valid, 30 %"
    name: str
    name_kana: str
    sex: str  # "1" male, "2" female
    birthdate: str  # YYYYMMDD
    address: str
    post_number: str
    insurer_number: str  # 8 digits, 6 for 国保, valid check digit
    insurer_name: str
    symbol: str
    number: str
    branch: str
    card_classification: str
    personal_family: str
    insured_name: str
    contribution_ratio: str  # "030", "020", "010" ("" for public medical aid)
    preschool: bool
    elderly_ratio: str  # "" or "020"/"030" for age 70–74
    limit_classification: str
    limit_flag: str
    validity: str  # what central answers: "1".."6"
    qualification_date: str
    disqualification_date: str
    reason_of_loss: str
    pin: str  # demo PIN
    pin_tries_left: int  # initial card counter
    # "valid" | "expiring" (certificate expires within three months) | "grace" (expired, in
    # its grace: qualification only) | "expired" (past its grace) | "revoked" | "none"
    card_status: str
    registered: bool  # False → central answers 該当資格なし for the card
    duplicate_of: str = ""  # another record with the same numbers → 複数該当
    newer_id: str = ""  # validity 3: the record holding the newer qualification
    grants: tuple[Grant, ...] = ()  # 公費 beside the insurance
    aid_tickets: tuple[AidTicket, ...] = ()  # 医療扶助 (card classification A1) only


@dataclass(frozen=True)
class _Insurer:
    name: str
    body: str  # the digits before the check digit
    prefecture: str  # address used for people insured here
    post_number: str

    @property
    def number(self) -> str:
        return self.body + str(check_digit(self.body))


KYOKAI = _Insurer("全国健康保険協会東京支部", "0113001", "東京都世田谷区桜丘", "1560054")
KUMIAI = _Insurer("東都電機健康保険組合", "0613812", "東京都品川区大崎", "1410032")
KYOSAI = _Insurer("関東地方職員共済組合", "3213015", "東京都練馬区豊玉北", "1760012")
KOKUHO_SETAGAYA = _Insurer("世田谷区", "13112", "東京都世田谷区経堂", "1560052")
KOKUHO_OSAKA = _Insurer("大阪市", "27100", "大阪府大阪市北区中之島", "5300005")
KOUKI_TOKYO = _Insurer("東京都後期高齢者医療広域連合", "3913100", "東京都杉並区阿佐谷南", "1660004")
KOUKI_KANAGAWA = _Insurer(
    "神奈川県後期高齢者医療広域連合", "3914100", "神奈川県横浜市中区山下町", "2310023"
)
AID_SETAGAYA = _Insurer("世田谷区福祉事務所", "1213300", "東京都世田谷区太子堂", "1540004")
AID_SUGINAMI = _Insurer("杉並区福祉事務所", "1213150", "東京都杉並区阿佐谷北", "1660001")


def with_check(body: str) -> str:
    """A 公費負担者番号 or 受給者番号 from the digits before its check digit."""
    return body + str(check_digit(body))


INTRACTABLE_TOKYO = with_check("5413100")  # 特定医療費（指定難病） 東京都
INFANT_SETAGAYA = with_check("8813112")  # 乳幼児医療費助成 (マル乳) 世田谷区
OTHER_CLINIC = ("1311234567", "杉並あおば内科クリニック")


def _person(
    pid: str,
    scenario: str,
    name: tuple[str, str],
    kana: tuple[str, str],
    sex: str,
    birthdate: str,
    insurer: _Insurer,
    symbol: str,
    number: str,
    *,
    block: str = "1-2-3",
    branch: str = "00",
    family_of: tuple[str, str] | None = None,
    ratio: str = "030",
    preschool: bool = False,
    elderly_ratio: str = "",
    limit: tuple[str, str] = ("", ""),
    validity: str = "1",
    qualified: str = "20200401",
    lost: tuple[str, str] = ("", ""),
    pin: str = DEFAULT_PIN,
    pin_tries_left: int = 3,
    card_status: str = "valid",
    registered: bool = True,
    card_classification: str = "01",
    duplicate_of: str = "",
    newer_id: str = "",
    grants: tuple[Grant, ...] = (),
    aid_tickets: tuple[AidTicket, ...] = (),
) -> Person:
    full_name = name[0] + SPACE + name[1]
    return Person(
        id=pid,
        scenario=scenario,
        name=full_name,
        name_kana=kana[0] + SPACE + kana[1],
        sex=sex,
        birthdate=birthdate,
        address=insurer.prefecture + block,
        post_number=insurer.post_number,
        insurer_number=insurer.number,
        insurer_name=insurer.name,
        symbol=symbol,
        number=number,
        branch=branch,
        card_classification=card_classification,
        personal_family="2" if family_of else "1",
        insured_name=(family_of[0] + SPACE + family_of[1]) if family_of else full_name,
        contribution_ratio=ratio,
        preschool=preschool,
        elderly_ratio=elderly_ratio,
        limit_classification=limit[0],
        limit_flag=limit[1],
        validity=validity,
        qualification_date=qualified,
        disqualification_date=lost[0],
        reason_of_loss=lost[1],
        pin=pin,
        pin_tries_left=pin_tries_left,
        card_status=card_status,
        registered=registered,
        duplicate_of=duplicate_of,
        newer_id=newer_id,
        grants=grants,
        aid_tickets=aid_tickets,
    )


VALID_30 = "有効・3割 / valid, 30 %"


def _scenarios() -> list[Person]:
    sato = ("佐藤", "翔太")
    return [
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
        _person(
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
    return _person(
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
        _person(
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
        _person(
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


def _public_expense_scenarios() -> list[Person]:
    """生活保護 (医療扶助 only: card classification A1, the month's 医療券), 難病 and 乳幼児医療
    (公費 beside the insurance); after the expiry cards, so every earlier id stays."""
    return [
        _person(
            "P051",
            "生活保護・医療券あり（当院指定） / public assistance, this month's ticket for us",
            ("石川", "正雄"),
            ("イシカワ", "マサオ"),
            "1",
            "19580921",
            AID_SETAGAYA,
            "",
            with_check("401236"),
            block="3-14-2",
            aid_tickets=(AidTicket("2604-00512"),),
            ratio="",
            card_classification="A1",
            qualified="20230801",
        ),
        _person(
            "P052",
            "生活保護・医療券の指定医療機関が他院 / public assistance, ticket names another clinic",
            ("森", "幸子"),
            ("モリ", "サチコ"),
            "2",
            "19620304",
            AID_SUGINAMI,
            "",
            with_check("305517"),
            block="1-22-6",
            aid_tickets=(
                AidTicket(
                    "2604-01877",
                    elsewhere=OTHER_CLINIC,
                    self_pay=3000,
                    remarks=("他法併用なし",),
                ),
            ),
            ratio="",
            card_classification="A1",
            qualified="20230801",
        ),
        _person(
            "P053",
            "生活保護・有効（未登録）・医療券は先月分 / aid unregistered, last month's ticket",
            ("橋本", "勇"),
            ("ハシモト", "イサム"),
            "1",
            "19491130",
            AID_SETAGAYA,
            "",
            with_check("401871"),
            validity="6",
            block="4-8-1",
            aid_tickets=(AidTicket("2603-00944", month_offset=-1),),
            ratio="",
            card_classification="A1",
            qualified="20230801",
        ),
        _person(
            "P054",
            "難病 (特定医療費)・3割 / intractable disease (public expense 54), 30 %",
            ("斎藤", "千尋"),
            ("サイトウ", "チヒロ"),
            "2",
            "19870618",
            KYOKAI,
            "40155501",
            "12",
            block="2-30-4",
            grants=(Grant(INTRACTABLE_TOKYO, with_check("708214"), "20251001", "20260930"),),
        ),
        _person(
            "P055",
            "乳幼児医療・国保の子 2割 / infant medical aid (local), 国保 child, 20 %",
            ("山本", "蒼"),
            ("ヤマモト", "アオイ"),
            "1",
            "20230115",
            KOKUHO_SETAGAYA,
            "世田谷",
            "0456125",
            block="4-3-18",
            ratio="020",
            preschool=True,
            qualified="20230115",
            grants=(Grant(INFANT_SETAGAYA, with_check("100346"), "20230115", "20290331"),),
        ),
    ]


def population() -> tuple[Person, ...]:
    people = _scenarios()
    people += [_filler(i) for i in range(len(people) + 1, 49)]
    people += _expiry_scenarios()
    people += _public_expense_scenarios()
    return tuple(people)


def person(person_id: str) -> Person:
    for candidate in population():
        if candidate.id == person_id:
            return candidate
    known = f"{population()[0].id}–{population()[-1].id}"
    raise KeyError(f"人物 {person_id} は存在しません / no such person: {person_id} ({known})")
