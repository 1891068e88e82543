"""Synthetic drug and specific-health-checkup histories for the simulated population.

Deterministic per person: every draw comes from a `random.Random` seeded with the person's id
(never the global generator), and everything is placed on the absolute calendar (conditions
start at an age, refills run on a fixed 28-day cycle), so a month's data is the same whatever
`until` is; `until` only sets the window, which keeps the data recent. Claims-based data lag:
nothing falls in the last LAG_DAYS before `until`.

Conditions, drugs, pharmacies, clinics and checkup values are invented but shaped like the
real thing (the drug catalogue in `sim.drugs`: generic drug names with their ingredients,
28-day refills; here: JLAC10-style checkup item codes, reference ranges of the specific health
checkup).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from sim.drugs import (
    ACETAMINOPHEN_FINE,
    ACUTE_ADULT,
    AMOXICILLIN_FINE,
    CARBOCISTEINE_DS,
    CONDITION_BY_KEY,
    CONDITIONS,
    REFILL_DAYS,
    Condition,
)
from sim.population import Person
from sync.medinfo import CheckupExam, CheckupItem, Dispensing, Drug, DrugMonth

LAG_DAYS = 30  # claims reach the service about a month after dispensing or the exam
CHILD_AGE = 15  # younger: acute courses only
CHECKUP_AGES = (40, 74)  # 特定健診 is for the insured aged 40–74
CYCLE_EPOCH = date(2000, 1, 3)  # refill cycles are counted from here, per person offset
# People with no drug history at all (young and healthy in the scenarios): their requests are
# answered normally, with an empty list.
NO_DRUG_HISTORY = frozenset({"P021", "P024", "P026"})
MAX_CONDITIONS = 3  # chronic conditions per person, the earliest kept

# Scenario people the demo and the tests lean on: (condition, age at diagnosis, regimen index).
_FIXED_CONDITIONS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "P001": (("hypertension", 34, 0), ("gastritis", 31, 2)),
    "P004": (("hypertension", 55, 2), ("dyslipidaemia", 58, 0), ("diabetes", 63, 0)),
    "P010": (("diabetes", 46, 2), ("dyslipidaemia", 48, 1)),
}


@dataclass(frozen=True)
class _Course:  # an acute course: the drugs of one visit for one complaint
    prescriber: str
    pharmacy: str
    drugs: tuple[Drug, ...]


# Invented places: who prescribes, who dispenses, where the checkups are done.
_ACUTE_PRESCRIBER = {
    "cold": "みどり内科クリニック",
    "bacterial": "みどり内科クリニック",
    "sinusitis": "はなみずき耳鼻咽喉科",
    "cystitis": "さくら通り泌尿器科",
    "back_pain": "ひかり整形外科",
    "hay_fever": "はなみずき耳鼻咽喉科",
    "child": "こもれび小児科クリニック",
}
_HOME_CLINICS = (
    "たけのこ内科クリニック",
    "医療法人社団 青葉会 青葉台内科",
    "みなと生活習慣病クリニック",
)
_PHARMACIES = (
    "さくら薬局 駅前店",
    "ひまわり調剤薬局 本町店",
    "あおば薬局 中央店",
    "すずらん薬局 北口店",
    "つばめ調剤薬局 病院前店",
)
_CHECKUP_PLACES = (
    "医療法人社団 桜丘会 桜丘健診クリニック",
    "一般財団法人 みなと健康管理センター",
    "医療法人 白樺会 しらかば総合健診センター",
)


def _child_course(rng: random.Random, weight_kg: float) -> tuple[Drug, ...]:
    """Weight-based doses of granules (g per day), as children's prescriptions are written."""
    carbocisteine = CARBOCISTEINE_DS.for_weight(weight_kg)
    if rng.random() < 0.4:
        return (AMOXICILLIN_FINE.for_weight(weight_kg), carbocisteine)
    return (carbocisteine, ACETAMINOPHEN_FINE.for_weight(weight_kg))


# ---------------------------------------------------------------------------- the person


@dataclass(frozen=True)
class _Active:
    condition: Condition
    onset: date
    drugs: tuple[Drug, ...]


@dataclass(frozen=True)
class _Profile:
    born: date
    male: bool
    conditions: tuple[_Active, ...]
    clinic: str
    pharmacy: str
    second_pharmacy: str  # equals pharmacy when the person uses only one
    cycle_offset: int  # day of the 28-day cycle the refills fall on


def _born(person: Person) -> date:
    b = person.birthdate
    return date(int(b[:4]), int(b[4:6]), int(b[6:]))


def _at_age(born: date, years: int) -> date:
    try:
        return born.replace(year=born.year + years)
    except ValueError:  # born on 29 February
        return born.replace(year=born.year + years, day=28)


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _profile(person: Person) -> _Profile:
    rng = random.Random(f"medical:{person.id}")
    born = _born(person)
    male = person.sex == "1"
    fixed = _FIXED_CONDITIONS.get(person.id)
    chosen: list[_Active] = []
    if fixed is not None:
        for key, onset_age, index in fixed:
            condition = CONDITION_BY_KEY[key]
            chosen.append(_Active(condition, _at_age(born, onset_age), condition.regimens[index]))
    else:
        for condition in CONDITIONS:
            chance = condition.chance[0 if male else 1]
            # draw every number for every condition, so one condition never shifts another
            hit = rng.random() < chance
            onset_age = rng.randint(*condition.onset)
            regimen = condition.regimens[rng.randrange(len(condition.regimens))]
            if hit:
                chosen.append(_Active(condition, _at_age(born, onset_age), regimen))
        chosen.sort(key=lambda a: a.onset)
        chosen = chosen[:MAX_CONDITIONS]
    pharmacy = rng.choice(_PHARMACIES)
    second = rng.choice(_PHARMACIES) if rng.random() < 0.4 else pharmacy
    return _Profile(
        born=born,
        male=male,
        conditions=tuple(chosen),
        clinic=rng.choice(_HOME_CLINICS),
        pharmacy=pharmacy,
        second_pharmacy=second,
        cycle_offset=rng.randrange(REFILL_DAYS),
    )


def _month_start(d: date, months_back: int) -> date:
    index = d.year * 12 + d.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


# ---------------------------------------------------------------------------- drugs


def drug_history(person: Person, until: date, months: int = 36) -> tuple[DrugMonth, ...]:
    """Dispensings in the `months` calendar months ending with `until`'s month, oldest first.

    Only months with at least one dispensing are listed; nothing is later than
    `until` − LAG_DAYS. Chronic conditions are refilled every 28 days at the person's
    pharmacy; acute courses come now and then from other clinics.
    """
    if person.id in NO_DRUG_HISTORY or months <= 0:
        return ()
    profile = _profile(person)
    first = _month_start(until, months - 1)
    last = until - timedelta(days=LAG_DAYS)
    dispensings = [
        *_refills(person, profile, first, last),
        *_acute_courses(person, profile, first, last),
    ]
    dispensings.sort(key=lambda d: (d.date, d.institution))
    by_month: dict[str, list[Dispensing]] = {}
    for dispensing in dispensings:
        by_month.setdefault(dispensing.date[:6], []).append(dispensing)
    return tuple(DrugMonth(month, tuple(items)) for month, items in sorted(by_month.items()))


def _refills(person: Person, profile: _Profile, first: date, last: date) -> list[Dispensing]:
    if not profile.conditions:
        return []
    start = CYCLE_EPOCH + timedelta(days=profile.cycle_offset)
    cycle = max(0, (first - start).days // REFILL_DAYS - 1)
    found = []
    while True:
        rng = random.Random(f"refill:{person.id}:{cycle}")
        # patients come a few days early or late; the cycle itself does not drift
        day = start + timedelta(days=cycle * REFILL_DAYS + rng.randint(-3, 3))
        cycle += 1
        if day > last:
            break
        if day < first:
            continue
        drugs = tuple(d for a in profile.conditions if a.onset <= day for d in a.drugs)
        if not drugs:
            continue
        pharmacy = profile.second_pharmacy if rng.random() < 0.25 else profile.pharmacy
        found.append(Dispensing(day.strftime("%Y%m%d"), pharmacy, profile.clinic, drugs))
    return found


def _acute_courses(person: Person, profile: _Profile, first: date, last: date) -> list[Dispensing]:
    found = []
    month = first
    while month <= last:
        rng = random.Random(f"acute:{person.id}:{month:%Y%m}")
        day = month + timedelta(days=rng.randrange(28))
        age = _age(profile.born, day)
        chance = 0.3 if age < 6 else 0.15 if age < CHILD_AGE else 0.08
        if rng.random() < chance and first <= day <= last and age >= 0:
            course = _course(rng, profile, age, day)
            found.append(
                Dispensing(day.strftime("%Y%m%d"), course.pharmacy, course.prescriber, course.drugs)
            )
        month = _month_start(month, -1)
    return found


def _course(rng: random.Random, profile: _Profile, age: int, day: date) -> _Course:
    if age < CHILD_AGE:
        weight = 3.3 + 2.2 * age if age < 12 else 8.0 + 2.8 * age
        return _Course(_ACUTE_PRESCRIBER["child"], profile.pharmacy, _child_course(rng, weight))
    kinds = [k for k, _ in ACUTE_ADULT if k != "hay_fever" or day.month in (2, 3, 4)]
    if not profile.male:
        kinds.append("cystitis")  # commoner in women: counted twice
    kind = rng.choice(kinds)
    drugs = dict(ACUTE_ADULT)[kind]
    pharmacy = profile.pharmacy if kind in ("cold", "bacterial") else profile.second_pharmacy
    return _Course(_ACUTE_PRESCRIBER[kind], pharmacy, drugs)


# ---------------------------------------------------------------------------- checkups


@dataclass(frozen=True)
class _Item:
    code: str
    name: str
    unit: str
    reference: str  # "low-high", either side may be empty; "(-)" for qualitative items


HEIGHT = _Item("9N001000000000001", "身長", "cm", "")
WEIGHT = _Item("9N006000000000001", "体重", "kg", "")
BMI = _Item("9N011000000000001", "BMI", "kg/m2", "18.5-24.9")
WAIST = _Item("9N016160100000001", "腹囲", "cm", "")  # reference depends on sex
SYSTOLIC = _Item("9A751000000000001", "収縮期血圧", "mmHg", "-129")
DIASTOLIC = _Item("9A761000000000001", "拡張期血圧", "mmHg", "-84")
TRIGLYCERIDE = _Item("3F015000002327101", "中性脂肪", "mg/dL", "30-149")
HDL = _Item("3F070000002327101", "HDLコレステロール", "mg/dL", "40-")
LDL = _Item("3F077000002327101", "LDLコレステロール", "mg/dL", "60-119")
AST = _Item("3B035000002327201", "AST", "U/L", "-30")
ALT = _Item("3B045000002327201", "ALT", "U/L", "-30")
GGT = _Item("3B090000002327101", "γ-GT", "U/L", "-50")
GLUCOSE = _Item("3D010000001926101", "空腹時血糖", "mg/dL", "-99")
HBA1C = _Item("3D046000001906202", "HbA1c", "%", "-5.5")
URINE_SUGAR = _Item("1A020000000191111", "尿糖", "", "(-)")
URINE_PROTEIN = _Item("1A010000000191111", "尿蛋白", "", "(-)")
CHECKUP_ITEMS = (
    HEIGHT,
    WEIGHT,
    BMI,
    WAIST,
    SYSTOLIC,
    DIASTOLIC,
    TRIGLYCERIDE,
    HDL,
    LDL,
    AST,
    ALT,
    GGT,
    GLUCOSE,
    HBA1C,
    URINE_SUGAR,
    URINE_PROTEIN,
)


def checkup_history(person: Person, until: date, years: int = 5) -> tuple[CheckupExam, ...]:
    """Yearly 特定健診 results of the last `years` years, oldest first.

    Only exams taken at ages 40–74 and at least LAG_DAYS before `until` are listed. Values
    follow the person's conditions: a rising trend before a diagnosis, treated values after.
    """
    if years <= 0:
        return ()
    profile = _profile(person)
    rng = random.Random(f"checkup:{person.id}")
    exam_month = rng.randint(5, 11)
    exam_day = rng.randint(1, 28)
    place = rng.choice(_CHECKUP_PLACES)
    height = rng.gauss(170.5, 5.5) if profile.male else rng.gauss(157.5, 5.0)
    heavy = any(a.condition.key in ("diabetes", "dyslipidaemia") for a in profile.conditions)
    base_bmi = rng.uniform(23.0, 27.0) if heavy else rng.uniform(19.5, 24.0)
    # at most one skipped year in the window, like most people who take their checkups
    skipped = until.year - rng.randrange(years) if rng.random() < 0.3 else None
    oldest = _at_age(until, -years)
    last = until - timedelta(days=LAG_DAYS)
    exams = []
    for year in range(until.year - years, until.year + 1):
        if year == skipped:
            continue
        year_rng = random.Random(f"checkup:{person.id}:{year}")
        day = date(year, exam_month, exam_day) + timedelta(days=year_rng.randint(-7, 7))
        age = _age(profile.born, day)
        if not (oldest < day <= last and CHECKUP_AGES[0] <= age <= CHECKUP_AGES[1]):
            continue
        items = _exam_items(profile, year_rng, day, age, height, base_bmi)
        exams.append(CheckupExam(day.strftime("%Y%m%d"), place, items))
    return tuple(exams)


def _since(profile: _Profile, key: str, day: date) -> float | None:
    """Years since the condition was diagnosed (negative before), None when never."""
    for active in profile.conditions:
        if active.condition.key == key:
            return (day - active.onset).days / 365.25
    return None


def _exam_items(
    profile: _Profile,
    rng: random.Random,
    day: date,
    age: int,
    height_at_40: float,
    base_bmi: float,
) -> tuple[CheckupItem, ...]:
    height = height_at_40 - max(0, age - 60) * 0.1
    bmi = base_bmi + (age - 40) * 0.06 + rng.gauss(0, 0.3)
    weight = bmi * (height / 100) ** 2
    waist = bmi * 3.3 + (5.0 if profile.male else 0.0) + rng.gauss(0, 1.2)

    def trend(key: str, normal: float, before: float, treated: float, spread: float) -> float:
        """Normal value, climbing in the years before a diagnosis, lower once treated."""
        since = _since(profile, key, day)
        if since is None or since < -4:
            return normal + rng.gauss(0, spread)
        if since < 0:  # the years the checkups flagged it
            return normal + (before - normal) * (1 + since / 4) + rng.gauss(0, spread)
        return treated + rng.gauss(0, spread)

    systolic = trend("hypertension", 112 + 0.4 * (age - 40), 146, 131, 5)
    diastolic = systolic * 0.62 + rng.gauss(0, 3)
    triglyceride = trend("dyslipidaemia", 85 + (bmi - 22) * 12, 190, 125, 15)
    ldl = trend("dyslipidaemia", 112, 168, 102, 8)
    hdl = (58 if profile.male else 68) - (bmi - 22) * 1.5 + rng.gauss(0, 4)
    glucose = trend("diabetes", 90 + 0.2 * (age - 40), 128, 130, 5)
    hba1c = trend("diabetes", 5.3 + 0.01 * (age - 40), 6.7, 6.8, 0.15)
    since_diabetes = _since(profile, "diabetes", day)
    if since_diabetes is not None and since_diabetes > 0:
        hba1c += 0.08 * since_diabetes  # slow drift despite treatment
        glucose += 3 * since_diabetes
    alt = 14 + (bmi - 21) * 2.5 + rng.gauss(0, 4)
    ast = 17 + alt * 0.3 + rng.gauss(0, 2)
    drinker = _since(profile, "hyperuricaemia", day) is not None
    ggt = (28 if profile.male else 16) + (40 if drinker else 0) + rng.gauss(0, 6)
    urine_sugar = "(+)" if glucose >= 160 else "(±)" if glucose >= 140 else "(-)"
    since_bp = _since(profile, "hypertension", day)
    protein = "(±)" if since_bp is not None and since_bp > 8 and rng.random() < 0.5 else "(-)"
    waist_reference = "-84.9" if profile.male else "-89.9"

    def item(spec: _Item, value: str, reference: str | None = None) -> CheckupItem:
        return CheckupItem(
            spec.code,
            spec.name,
            value,
            spec.unit,
            spec.reference if reference is None else reference,
        )

    return (
        item(HEIGHT, f"{height:.1f}"),
        item(WEIGHT, f"{weight:.1f}"),
        item(BMI, f"{weight / (height / 100) ** 2:.1f}"),
        item(WAIST, f"{waist:.1f}", waist_reference),
        item(SYSTOLIC, f"{systolic:.0f}"),
        item(DIASTOLIC, f"{diastolic:.0f}"),
        item(TRIGLYCERIDE, f"{max(triglyceride, 35):.0f}"),
        item(HDL, f"{max(hdl, 28):.0f}"),
        item(LDL, f"{ldl:.0f}"),
        item(AST, f"{max(ast, 10):.0f}"),
        item(ALT, f"{max(alt, 6):.0f}"),
        item(GGT, f"{max(ggt, 8):.0f}"),
        item(GLUCOSE, f"{glucose:.0f}"),
        item(HBA1C, f"{hba1c:.1f}"),
        item(URINE_SUGAR, urine_sugar),
        item(URINE_PROTEIN, protein),
    )
