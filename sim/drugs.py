"""The simulated population's drug catalogue: chronic conditions with their regimens, the
drugs of acute courses, and children's weight-dosed granules.

Data only; `sim.medical` draws histories from it. Names and ingredients are those of real
generic drugs; codes follow the 12-character YJ layout with the right therapeutic class
digits, but the trailing digits are not real products. Long-term drugs are written for one
28-day refill (REFILL_DAYS).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sync.medinfo import Drug

REFILL_DAYS = 28


@dataclass(frozen=True)
class Condition:
    key: str
    name: str  # for reading the code; not sent
    chance: tuple[float, float]  # lifetime chance (male, female)
    onset: tuple[int, int]  # age range at diagnosis
    regimens: tuple[tuple[Drug, ...], ...]  # one is chosen per person


@dataclass(frozen=True)
class WeightDosed:
    """A children's granule: the daily quantity (g) is written from the child's weight."""

    drug: Drug  # quantity left empty; filled in by for_weight
    mg_per_kg: float  # daily dose of the ingredient
    strength_mg_per_g: float  # ingredient per gram of granules

    def for_weight(self, weight_kg: float) -> Drug:
        grams = weight_kg * self.mg_per_kg / self.strength_mg_per_g
        return replace(self.drug, quantity=f"{grams:.1f}")


def _drug(code: str, name: str, ingredient: str, quantity: str, unit: str, usage: str) -> Drug:
    return Drug(code, name, ingredient, quantity, unit, usage, str(REFILL_DAYS))


# ---------------------------------------------------------------------------- long-term drugs

AMLODIPINE = _drug(
    "2171022F1093", "アムロジピン錠5mg", "アムロジピンベシル酸塩", "1", "錠", "1日1回朝食後"
)
OLMESARTAN = _drug(
    "2149044F2031",
    "オルメサルタンOD錠20mg",
    "オルメサルタン メドキソミル",
    "1",
    "錠",
    "1日1回朝食後",
)
CANDESARTAN = _drug(
    "2149040F2058", "カンデサルタン錠8mg", "カンデサルタン シレキセチル", "1", "錠", "1日1回朝食後"
)
TELMISARTAN = _drug(
    "2149042F2076", "テルミサルタン錠40mg", "テルミサルタン", "1", "錠", "1日1回朝食後"
)
ROSUVASTATIN = _drug(
    "2189017F1045", "ロスバスタチン錠2.5mg", "ロスバスタチンカルシウム", "1", "錠", "1日1回夕食後"
)
ATORVASTATIN = _drug(
    "2189015F2067",
    "アトルバスタチン錠10mg",
    "アトルバスタチンカルシウム水和物",
    "1",
    "錠",
    "1日1回夕食後",
)
EZETIMIBE = _drug("2189018F1024", "エゼチミブ錠10mg", "エゼチミブ", "1", "錠", "1日1回夕食後")
METFORMIN = _drug(
    "3962002F1151", "メトホルミン塩酸塩錠250mgMT", "メトホルミン塩酸塩", "2", "錠", "1日2回朝夕食後"
)
SITAGLIPTIN = _drug(
    "3969010F1072",
    "シタグリプチン錠50mg",
    "シタグリプチンリン酸塩水和物",
    "1",
    "錠",
    "1日1回朝食後",
)
FAMOTIDINE = _drug(
    "2325003F2138", "ファモチジン錠20mg", "ファモチジン", "2", "錠", "1日2回朝食後・就寝前"
)
LANSOPRAZOLE = _drug(
    "2329023F1086", "ランソプラゾールOD錠15mg", "ランソプラゾール", "1", "錠", "1日1回朝食後"
)
REBAMIPIDE = _drug("2329021F1260", "レバミピド錠100mg", "レバミピド", "3", "錠", "1日3回毎食後")
ZOLPIDEM = _drug(
    "1129009F1092", "ゾルピデム酒石酸塩錠5mg", "ゾルピデム酒石酸塩", "1", "錠", "1日1回就寝前"
)
BROTIZOLAM = _drug(
    "1124009F2056", "ブロチゾラムOD錠0.25mg", "ブロチゾラム", "1", "錠", "1日1回就寝前"
)
LEMBOREXANT = _drug("1190028F1027", "デエビゴ錠5mg", "レンボレキサント", "1", "錠", "1日1回就寝前")
MONTELUKAST = _drug(
    "4490026F1180", "モンテルカスト錠10mg", "モンテルカストナトリウム", "1", "錠", "1日1回就寝前"
)
THEOPHYLLINE = _drug(
    "2251001G2110", "テオフィリン徐放錠200mg", "テオフィリン", "2", "錠", "1日2回朝食後・就寝前"
)
FEBUXOSTAT = _drug(
    "3949003F1034", "フェブキソスタット錠20mg", "フェブキソスタット", "1", "錠", "1日1回朝食後"
)
MAGNESIUM_OXIDE = _drug(
    "2344009F1128", "酸化マグネシウム錠330mg", "酸化マグネシウム", "3", "錠", "1日3回毎食後"
)
# Weekly: DosageDays counts the doses (4 in a 28-day refill).
ALENDRONATE = Drug(
    "3999018F1064",
    "アレンドロン酸錠35mg",
    "アレンドロン酸ナトリウム水和物",
    "1",
    "錠",
    "週1回起床時",
    "4",
)

CONDITIONS = (
    Condition(
        "hypertension",
        "高血圧症",
        (0.55, 0.45),
        (38, 62),
        ((AMLODIPINE,), (OLMESARTAN,), (AMLODIPINE, CANDESARTAN), (TELMISARTAN,)),
    ),
    Condition(
        "dyslipidaemia",
        "脂質異常症",
        (0.4, 0.45),
        (38, 60),
        ((ROSUVASTATIN,), (ATORVASTATIN,), (ROSUVASTATIN, EZETIMIBE)),
    ),
    Condition(
        "diabetes",
        "2型糖尿病",
        (0.25, 0.15),
        (42, 65),
        ((METFORMIN,), (SITAGLIPTIN,), (METFORMIN, SITAGLIPTIN)),
    ),
    Condition(
        "gastritis",
        "逆流性食道炎・慢性胃炎",
        (0.25, 0.25),
        (28, 60),
        ((LANSOPRAZOLE,), (FAMOTIDINE,), (FAMOTIDINE, REBAMIPIDE)),
    ),
    Condition(
        "insomnia",
        "不眠症",
        (0.15, 0.2),
        (30, 70),
        ((ZOLPIDEM,), (BROTIZOLAM,), (LEMBOREXANT,)),
    ),
    Condition(
        "asthma", "気管支喘息", (0.08, 0.1), (16, 40), ((MONTELUKAST,), (MONTELUKAST, THEOPHYLLINE))
    ),
    Condition("hyperuricaemia", "高尿酸血症", (0.2, 0.02), (35, 60), ((FEBUXOSTAT,),)),
    Condition("osteoporosis", "骨粗鬆症", (0.05, 0.35), (62, 75), ((ALENDRONATE,),)),
    Condition("constipation", "慢性便秘症", (0.15, 0.25), (65, 80), ((MAGNESIUM_OXIDE,),)),
)

CONDITION_BY_KEY = {c.key: c for c in CONDITIONS}

# ---------------------------------------------------------------------------- acute courses

# An adult's acute course per complaint: the drugs of one visit.
ACUTE_ADULT: tuple[tuple[str, tuple[Drug, ...]], ...] = (
    (
        "cold",
        (
            Drug(
                "2233002F1269",
                "カルボシステイン錠500mg",
                "L-カルボシステイン",
                "3",
                "錠",
                "1日3回毎食後",
                "5",
            ),
            Drug(
                "2223001F1097",
                "デキストロメトルファン臭化水素酸塩錠15mg",
                "デキストロメトルファン臭化水素酸塩水和物",
                "3",
                "錠",
                "1日3回毎食後",
                "5",
            ),
            Drug(
                "1141007F1063",
                "アセトアミノフェン錠200mg",
                "アセトアミノフェン",
                "2",
                "錠",
                "発熱時頓用",
                "5",
            ),
        ),
    ),
    (
        "bacterial",
        (
            Drug(
                "6132016F1088",
                "セフカペンピボキシル塩酸塩錠100mg",
                "セフカペン ピボキシル塩酸塩水和物",
                "3",
                "錠",
                "1日3回毎食後",
                "5",
            ),
        ),
    ),
    (
        "sinusitis",
        (
            Drug(
                "6149003F2250",
                "クラリスロマイシン錠200mg",
                "クラリスロマイシン",
                "2",
                "錠",
                "1日2回朝夕食後",
                "7",
            ),
            Drug(
                "2233002F1269",
                "カルボシステイン錠500mg",
                "L-カルボシステイン",
                "3",
                "錠",
                "1日3回毎食後",
                "7",
            ),
        ),
    ),
    (
        "cystitis",
        (
            Drug(
                "6241013F1020",
                "レボフロキサシン錠500mg",
                "レボフロキサシン水和物",
                "1",
                "錠",
                "1日1回朝食後",
                "5",
            ),
        ),
    ),
    (
        "back_pain",
        (
            Drug(
                "1149019F1560",
                "ロキソプロフェンナトリウム錠60mg",
                "ロキソプロフェンナトリウム水和物",
                "3",
                "錠",
                "1日3回毎食後",
                "7",
            ),
            replace(REBAMIPIDE, days="7"),
        ),
    ),
    (
        "hay_fever",
        (
            Drug(
                "4490023F1047",
                "フェキソフェナジン塩酸塩錠60mg",
                "フェキソフェナジン塩酸塩",
                "2",
                "錠",
                "1日2回朝夕食後",
                "14",
            ),
        ),
    ),
)

# Children's granules, dosed by weight.
CARBOCISTEINE_DS = WeightDosed(
    Drug(
        "2233002R2048", "カルボシステインDS50%", "L-カルボシステイン", "", "g", "1日3回毎食後", "5"
    ),
    30,
    500,
)
AMOXICILLIN_FINE = WeightDosed(
    Drug(
        "6131001C1210",
        "アモキシシリン細粒20%",
        "アモキシシリン水和物",
        "",
        "g",
        "1日3回毎食後",
        "5",
    ),
    40,
    200,
)
ACETAMINOPHEN_FINE = WeightDosed(
    Drug(
        "1141007C1075",
        "アセトアミノフェン細粒20%",
        "アセトアミノフェン",
        "",
        "g",
        "発熱時頓用",
        "5",
    ),
    10,
    200,
)
