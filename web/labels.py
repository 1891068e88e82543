"""The XmlMsg codes (DOMAIN.md §3/§4) and the verdict on an answer, in Japanese and English.

sync/ keeps the codes and what they mean to the appliance; the words shown for them live here.
The Japanese follows the national spec's names; the English is ours, for staff who read it.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from sync.codes import PublicExpenseKind, Verdict


class Label(NamedTuple):
    ja: str
    en: str


QUALIFICATION_VALIDITY: dict[str, Label] = {
    "1": Label("有効", "valid"),
    "2": Label("無効", "invalid"),
    "3": Label("無効（新しい資格あり）", "invalid (a newer qualification exists)"),
    "4": Label("該当資格なし", "no matching qualification"),
    "5": Label("複数該当", "several matches"),
    "6": Label("有効（未登録）", "valid (not registered; public medical aid)"),
}

SEGMENT_OF_RESULT: dict[str, Label] = {
    "1": Label("正常終了", "completed"),
    "2": Label("処理中", "in progress"),
    "9": Label("異常終了", "failed"),
}

PROCESSING_RESULT_STATUS: dict[str, Label] = {
    "1": Label("正常終了", "normal"),
    "2": Label("エラー", "error"),
}

INSURED_CARD_CLASSIFICATION: dict[str, Label] = {
    "01": Label("被保険者証（一般）", "health insurance card (general)"),
    "02": Label("被保険者証（退職）", "health insurance card (retiree)"),
    "03": Label("短期被保険者証（一般）", "short-term card (general)"),
    "04": Label("短期被保険者証（退職）", "short-term card (retiree)"),
    "05": Label("被保険者資格証明書", "certificate of insured status"),
    "06": Label("特例退職被保険者証", "special retiree card"),
    "07": Label("自衛官診療証", "Self-Defense Forces medical card"),
    "A1": Label("医療扶助", "public medical aid"),
}

PERSONAL_FAMILY: dict[str, Label] = {
    "1": Label("本人", "insured person"),
    "2": Label("家族", "dependent family member"),
}

SEX: dict[str, Label] = {
    "1": Label("男", "male"),
    "2": Label("女", "female"),
    "3": Label("未設定", "not set"),
}

REASON_OF_LOSS: dict[str, Label] = {
    "01": Label("死亡", "death"),
    "02": Label("生活保護受給開始", "start of public assistance"),
    "03": Label("医療保険等の資格取得", "joined another insurance"),
    "99": Label("その他", "other"),
}

LIMIT_CERTIFICATE_CLASSIFICATION: dict[str, Label] = {
    "01": Label("限度額適用認定証", "ceiling-amount certificate"),
    "02": Label(
        "限度額適用・標準負担額減額認定証",
        "ceiling-amount and standard-charge reduction certificate",
    ),
    "03": Label("標準負担額減額認定証", "standard-charge reduction certificate"),
}

LIMIT_CERTIFICATE_FLAG: dict[str, Label] = {
    "A01": Label("ア", "a (income about ¥11.6M or more)"),
    "A02": Label("イ", "i (income about ¥7.7M to ¥11.6M)"),
    "A03": Label("ウ", "u (income about ¥3.7M to ¥7.7M)"),
    "A04": Label("エ", "e (income up to about ¥3.7M)"),
    "A05": Label("オ", "o (exempt from resident tax)"),
    "A06": Label("オ（境）", "o (borderline case)"),
    "B01": Label("現役並みⅢ", "working-level income III"),
    "B02": Label("現役並みⅡ", "working-level income II"),
    "B03": Label("現役並みⅠ", "working-level income I"),
    "B04": Label("一般", "general"),
    "B05": Label("低所得Ⅱ", "low income II"),
    "B06": Label("低所得Ⅰ", "low income I"),
    "B07": Label("低所得Ⅰ（老福）", "low income I (old-age welfare pension)"),
    "B08": Label("低所得Ⅰ（境）", "low income I (borderline case)"),
    "B09": Label("一般Ⅱ", "general II"),
    "B10": Label("一般Ⅰ", "general I"),
}

CONSENT_KIND: dict[str, Label] = {
    "drug": Label("薬剤情報", "drug information"),
    "checkup": Label("特定健診情報", "specific health checkups"),
    "diagnosis": Label("診療情報", "treatment information"),
    "surgery": Label("手術情報", "surgery information"),
}

PRESCRIPTION_ISSUE_SELECT: dict[str, Label] = {
    "1": Label("電子処方箋", "electronic prescription"),
    "2": Label("紙の処方箋", "paper prescription"),
}

REFERENCE_CLASSIFICATION: dict[str, Label] = {
    "1": Label("マイナンバーカード", "My Number card"),
    "2": Label("被保険者証情報", "insurance numbers"),
}

SPECIFIC_DISEASE_CATEGORY: dict[str, Label] = {
    "1": Label("人工透析を必要とする慢性腎不全", "chronic renal failure requiring dialysis"),
    "2": Label("先天性血液凝固因子障害", "congenital coagulation factor disorder"),
    "3": Label("血液凝固因子製剤の投与に起因するHIV感染症", "HIV infection from blood products"),
}


# -- 公費 and 医療扶助 (DOMAIN §8); codes the public sources do not give are best-known ----------
TICKET_TYPE: dict[str, Label] = {
    "01": Label("医療券", "medical ticket"),
    "02": Label("調剤券", "dispensing ticket"),
}

MEDICAL_TREATMENT_TYPE: dict[str, Label] = {
    "01": Label("入院", "inpatient"),
    "02": Label("入院外", "outpatient"),
    "03": Label("歯科", "dental"),
    "04": Label("調剤", "dispensing"),
    "05": Label("訪問看護", "home-visit nursing"),
}

DESIGNATED_INSTITUTION_FLAG: dict[str, Label] = {
    "0": Label("一致", "this institution"),
    "1": Label("不一致", "another institution"),
}

SINGLE_OR_COMBINED_USE: dict[str, Label] = {
    "1": Label("単独", "medical aid alone"),
    "2": Label("併用", "combined with other insurance"),
}

# The public expense a 公費負担者番号 belongs to: (full name, short name for the desk row).
PUBLIC_EXPENSE_KIND: dict[PublicExpenseKind, Label] = {
    PublicExpenseKind.MEDICAL_AID: Label("医療扶助（生活保護）", "medical aid (public assistance)"),
    PublicExpenseKind.INTRACTABLE_DISEASE: Label(
        "特定医療費（指定難病）", "designated intractable disease"
    ),
    PublicExpenseKind.CHILD_CHRONIC: Label(
        "小児慢性特定疾病医療費", "specific chronic disease in children"
    ),
    PublicExpenseKind.MENTAL_OUTPATIENT: Label(
        "自立支援医療（精神通院）", "outpatient psychiatric care support"
    ),
    PublicExpenseKind.LOCAL: Label(
        "地方公費（乳幼児医療など）", "local public aid (infants and others)"
    ),
    PublicExpenseKind.OTHER: Label("公費負担医療", "public expense"),
}

PUBLIC_EXPENSE_SHORT: dict[PublicExpenseKind, Label] = {
    PublicExpenseKind.MEDICAL_AID: Label("医療扶助", "medical aid"),
    PublicExpenseKind.INTRACTABLE_DISEASE: Label("難病", "intractable disease"),
    PublicExpenseKind.CHILD_CHRONIC: Label("小児慢性", "child chronic"),
    PublicExpenseKind.MENTAL_OUTPATIENT: Label("精神通院", "psychiatric outpatient"),
    PublicExpenseKind.LOCAL: Label("地方公費", "local aid"),
    PublicExpenseKind.OTHER: Label("公費", "other"),
}


def label(table: dict[str, Label], code: str | None, lang: str = "ja") -> str:
    """The label in one language; codes not in the table still format cleanly."""
    english = lang.lower().startswith("en")
    if not code:
        return "none" if english else "なし"
    found = table.get(code)
    if found is None:
        return f"unknown ({code})" if english else f"不明 ({code})"
    return found.en if english else found.ja


def consent_kind_text(kind: str, lang: str) -> str:
    """The name of a kind of information a patient may share; a kind the config accepts but
    nobody wrote words for shows its key rather than failing the page (a test fails instead)."""
    found = CONSENT_KIND.get(kind)
    if found is None:
        return kind
    return found.en if lang == "en" else found.ja


class Badge(enum.Enum):
    """How a verdict (sync.codes.Verdict) looks on the staff pages: its words and CSS class."""

    VALID = ("有効", "valid", "ok")
    INVALID = ("無効", "invalid", "warn")
    INVALID_NEWER = ("無効（新しい資格あり）", "invalid (a newer qualification exists)", "warn")
    NOT_FOUND = ("該当資格なし", "no matching qualification", "warn")
    MULTIPLE = ("複数該当", "several matches", "warn")
    UNREGISTERED_AID = ("有効（未登録）", "valid (not registered)", "warn")
    ERROR = ("エラー", "error", "error")
    OFFLINE = ("本人確認済・オンライン未確認", "identity confirmed, not checked online", "offline")

    @classmethod
    def of(cls, verdict: Verdict) -> Badge:
        return cls[verdict.name]

    @property
    def ja(self) -> str:
        return str(self.value[0])

    @property
    def en(self) -> str:
        return str(self.value[1])

    @property
    def css(self) -> str:
        return str(self.value[2])
