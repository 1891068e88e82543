"""The simulated people's record, their insurers and the builder the population's tables use.

A Person is what the emulated card, the simulated central and the demo know of one insured
person; a Grant (公費) or an AidTicket (医療扶助's 医療券) is what the central's answer adds
beside the insurance. The people themselves are listed in sim/population.py and, for 公費
and 医療扶助, sim/grants.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.identifiers import check_digit

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
class Insurer:
    name: str
    body: str  # the digits before the check digit
    prefecture: str  # address used for people insured here
    post_number: str

    @property
    def number(self) -> str:
        return self.body + str(check_digit(self.body))


KYOKAI = Insurer("全国健康保険協会東京支部", "0113001", "東京都世田谷区桜丘", "1560054")
KUMIAI = Insurer("東都電機健康保険組合", "0613812", "東京都品川区大崎", "1410032")
KYOSAI = Insurer("関東地方職員共済組合", "3213015", "東京都練馬区豊玉北", "1760012")
KOKUHO_SETAGAYA = Insurer("世田谷区", "13112", "東京都世田谷区経堂", "1560052")
KOKUHO_OSAKA = Insurer("大阪市", "27100", "大阪府大阪市北区中之島", "5300005")
KOUKI_TOKYO = Insurer("東京都後期高齢者医療広域連合", "3913100", "東京都杉並区阿佐谷南", "1660004")
KOUKI_KANAGAWA = Insurer(
    "神奈川県後期高齢者医療広域連合", "3914100", "神奈川県横浜市中区山下町", "2310023"
)
AID_SETAGAYA = Insurer("世田谷区福祉事務所", "1213300", "東京都世田谷区太子堂", "1540004")
AID_SUGINAMI = Insurer("杉並区福祉事務所", "1213150", "東京都杉並区阿佐谷北", "1660001")


def with_check(body: str) -> str:
    """A 公費負担者番号 or 受給者番号 from the digits before its check digit."""
    return body + str(check_digit(body))


def make_person(
    pid: str,
    scenario: str,
    name: tuple[str, str],
    kana: tuple[str, str],
    sex: str,
    birthdate: str,
    insurer: Insurer,
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
    """A Person from the few fields a scenario sets; the rest follow from them."""
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
