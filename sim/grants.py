"""The population's 公費 and 医療扶助: the numbers of the grants and the people who hold them.

生活保護 (医療扶助 only: card classification A1, the month's 医療券), 難病 and 乳幼児医療 (公費
beside the insurance). How the simulated central answers them is sim/central/publicexpense.py.
"""

from __future__ import annotations

from sim.people import (
    AID_SETAGAYA,
    AID_SUGINAMI,
    KOKUHO_SETAGAYA,
    KYOKAI,
    AidTicket,
    Grant,
    Person,
    make_person,
    with_check,
)

INTRACTABLE_TOKYO = with_check("5413100")  # 特定医療費（指定難病） 東京都
INFANT_SETAGAYA = with_check("8813112")  # 乳幼児医療費助成 (マル乳) 世田谷区
OTHER_CLINIC = ("1311234567", "杉並あおば内科クリニック")


def public_expense_scenarios() -> list[Person]:
    """P051–P055: sim/population.py lists them after the expiry cards, so every earlier id
    stays."""
    return [
        make_person(
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
        make_person(
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
        make_person(
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
        make_person(
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
        make_person(
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
