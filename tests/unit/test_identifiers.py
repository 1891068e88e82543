from __future__ import annotations

from datetime import date

import pytest

from sync.identifiers import (
    IdentifierError,
    check_digit,
    is_valid_my_number,
    normalize_digits,
    validate_birthdate,
    validate_branch,
    validate_insurer_number,
    validate_medical_institution_code,
)
from web.field_errors import identifier_error_text

# ---------------------------------------------------------------- normalize_digits


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("１２３４", "1234"),
        ("１２ ３４", "1234"),
        ("12\u300034", "1234"),  # ideographic space from a Japanese IME
        ("\t12 34\n", "1234"),
        ("ＡＢｃ１", "ABc1"),
        ("", ""),
    ],
)
def test_normalize_digits(raw: str, expected: str) -> None:
    assert normalize_digits(raw) == expected


# ---------------------------------------------------------------- check_digit


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("3312001", 5),  # DOMAIN §2: 6+3+2+2+0+0+2 = 15
        ("0613201", 3),  # 2+0+4+3+2+6+0 = 17
        ("13805", 7),  # 国保 body: 10→1, 0, 16→7, 3, 2 = 13
        ("0113001", 2),
        ("5", 9),  # 5×2 = 10 counts as 1+0, not 10
        ("9", 1),  # 18 → 9
        ("0", 0),
        ("0000000", 0),  # sum 0 → (10 - 0) % 10 = 0, not 10
    ],
)
def test_check_digit(body: str, expected: int) -> None:
    assert check_digit(body) == expected


def test_check_digit_leading_zeros_do_not_change_it() -> None:
    assert check_digit("0013805") == check_digit("13805")


@pytest.mark.parametrize("body", ["", "12a4", "１２"])
def test_check_digit_rejects_non_digits(body: str) -> None:
    with pytest.raises(IdentifierError):
        check_digit(body)


# ---------------------------------------------------------------- insurer number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("33120015", "33120015"),
        ("06132013", "06132013"),
        ("３３１２００１５", "33120015"),
        ("3312 0015", "33120015"),
        ("138057", "138057"),  # 国保, 6 digits
        ("  138057", "138057"),  # padded with spaces in XML
        ("00138057", "138057"),  # padded with zeros in XML
        ("\u3000\u3000１３８０５７", "138057"),
    ],
)
def test_insurer_number_accepted(raw: str, expected: str) -> None:
    assert validate_insurer_number(raw) == expected


def test_insurer_number_check_digit_message_names_digit_and_expected() -> None:
    with pytest.raises(IdentifierError) as caught:
        validate_insurer_number("33120014")
    assert identifier_error_text(caught.value) == (
        "保険者番号の検証番号が違います (8桁目: 4 → 5) / "
        "insurer number check digit is wrong (digit 8: 4, expected 5)"
    )
    assert caught.value.field == "insurer_number"
    assert caught.value.position == 8
    assert caught.value.expected == "5"


@pytest.mark.parametrize(
    ("raw", "position", "expected"),
    [
        ("138058", 6, "7"),
        ("00138058", 8, "7"),  # position as typed, padding included
        ("  138058", 6, "7"),  # spaces are stripped before counting
    ],
)
def test_insurer_number_kokuho_check_digit(raw: str, position: int, expected: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        validate_insurer_number(raw)
    assert caught.value.position == position
    assert caught.value.expected == expected


@pytest.mark.parametrize("raw", ["", "   ", "3312001", "331200150", "12345", "1234567890"])
def test_insurer_number_wrong_length(raw: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        validate_insurer_number(raw)
    assert caught.value.field == "insurer_number"
    assert caught.value.expected is None
    assert "保険者番号" in identifier_error_text(caught.value)
    assert "insurer number" in identifier_error_text(caught.value)


def test_insurer_number_letter_names_position() -> None:
    with pytest.raises(IdentifierError) as caught:
        validate_insurer_number("3312OO15")  # letter O typed for zero
    assert caught.value.position == 5
    assert "5桁目" in identifier_error_text(caught.value)


def test_insurer_number_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        validate_insurer_number("x")


# ---------------------------------------------------------------- birthdate


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("19700401", "19700401"),
        ("1970-04-01", "19700401"),
        ("1970/4/1", "19700401"),
        ("1970.04.01", "19700401"),
        ("１９７０／０４／０１", "19700401"),
        ("1970年4月1日", "19700401"),
        ("20000229", "20000229"),  # leap year divisible by 400
        ("S45.4.1", "19700401"),
        ("s45.4.1", "19700401"),
        ("Ｓ４５．４．１", "19700401"),
        ("S45.12.3", "19701203"),
        ("S45/12/3", "19701203"),
        ("昭和45年12月3日", "19701203"),
        ("昭45.12.3", "19701203"),
        ("R2.4.1", "20200401"),
        ("令和2年4月1日", "20200401"),
        ("令和２年４月１日", "20200401"),
        ("R020401", "20200401"),
        ("R元.5.1", "20190501"),
        ("令和元年5月1日", "20190501"),
        ("H1.1.8", "19890108"),
        ("平成元年1月8日", "19890108"),
        ("㍻元年1月8日", "19890108"),  # one-character era sign, NFKC → 平成
        ("H12.2.29", "20000229"),
        ("H31.4.30", "20190430"),  # last day of 平成
        ("S64.1.7", "19890107"),  # last day of 昭和
        ("S1.12.25", "19261225"),  # first day of 昭和
        ("T15.12.24", "19261224"),
        ("T1.7.30", "19120730"),
        ("M45.7.29", "19120729"),
        ("明治44年3月3日", "19110303"),
    ],
)
def test_birthdate_accepted(raw: str, expected: str) -> None:
    assert validate_birthdate(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "19700230",  # no 30 February
        "20230229",  # not a leap year
        "19000229",  # divisible by 100, not 400
        "19700431",
        "19701301",
        "H3.2.30",
    ],
)
def test_birthdate_impossible(raw: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        validate_birthdate(raw)
    assert caught.value.field == "birthdate"
    assert "存在しない日付" in identifier_error_text(caught.value)


@pytest.mark.parametrize(
    ("raw", "era"),
    [
        ("H31.5.1", "平成"),  # 令和 began 2019-05-01
        ("H1.1.7", "平成"),  # 平成 began 1989-01-08
        ("S64.1.8", "昭和"),
        ("S1.12.24", "昭和"),
        ("R1.4.30", "令和"),
        ("T16.1.1", "大正"),
        ("M46.1.1", "明治"),
        ("平成32年1月1日", "平成"),
    ],
)
def test_birthdate_outside_era(raw: str, era: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        validate_birthdate(raw)
    assert f"{era}の期間外" in identifier_error_text(caught.value)


@pytest.mark.parametrize(
    "raw",
    ["", "  ", "abc", "1970-04/01", "197041", "X1.1.1", "S.4.1", "H0.1.1", "18000101", "R2-4.1"],
)
def test_birthdate_rejected(raw: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        validate_birthdate(raw)
    assert caught.value.field == "birthdate"
    assert " / " in identifier_error_text(caught.value)  # Japanese then English


def test_birthdate_message_does_not_echo_value() -> None:
    with pytest.raises(IdentifierError) as caught:
        validate_birthdate("1970x0401")
    assert "1970x0401" not in identifier_error_text(caught.value)


@pytest.mark.parametrize(
    "raw",
    [
        "١٩٧٠٠٤٠١",  # Arabic-Indic: int() and \\d took them, and 1970-04-01 was sent
        "۱۹۷۰-۰۴-۰۱",  # Extended Arabic-Indic (Persian)
        "१९७०-०४-०१",  # Devanagari
        "১৯৭০০৪০১",  # Bengali
        "S४५.4.1",  # one foreign digit among ASCII
        "①⑨⑦⓪0401",  # circled: NFKC would have made them ASCII
        "19７0０4０¹",  # superscript one
        "𝟏𝟗𝟕𝟎𝟎𝟒𝟎𝟏",  # mathematical bold
    ],
)
def test_birthdate_refuses_digits_of_other_scripts(raw: str) -> None:
    with pytest.raises(IdentifierError, match="digit of another script") as caught:
        validate_birthdate(raw)
    assert caught.value.field == "birthdate" and caught.value.position is not None
    assert "0〜9 で入力してください" in identifier_error_text(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("１９７０－０４－０１", "19700401"),
        ("Ｓ４５．４．１", "19700401"),
        ("昭和４５年４月１日", "19700401"),
    ],
)
def test_full_width_digits_stay_welcome(raw: str, expected: str) -> None:
    assert validate_birthdate(raw, today=date(2026, 4, 1)) == expected


def test_other_identifiers_refuse_digits_of_other_scripts_too() -> None:
    with pytest.raises(IdentifierError, match="another script"):
        validate_insurer_number("٠٦١٣٢٠١٣")
    with pytest.raises(IdentifierError, match="another script"):
        validate_branch("٠١")
    with pytest.raises(IdentifierError, match="another script"):
        validate_medical_institution_code("①312345670")
    assert validate_insurer_number("０６１３２０１３") == "06132013"


@pytest.mark.parametrize(
    ("raw", "today", "refused"),
    [
        ("20260402", date(2026, 4, 1), True),  # tomorrow
        ("R8.4.2", date(2026, 4, 1), True),
        ("R99.1.1", date(2026, 4, 1), True),  # 令和99年 is a real form, and far ahead
        ("20260401", date(2026, 4, 1), False),  # born today: a newborn's first visit
        ("R8.4.1", date(2026, 4, 1), False),
        ("20260401", date(2026, 3, 31), True),  # the same date, against another clock
        ("19700401", date(1970, 3, 31), True),
    ],
)
def test_birthdate_in_the_future_is_refused(raw: str, today: date, refused: bool) -> None:
    if refused:
        with pytest.raises(IdentifierError, match="in the future") as caught:
            validate_birthdate(raw, today=today)
        assert "未来の日付" in identifier_error_text(caught.value)
    else:
        assert validate_birthdate(raw, today=today)
    assert validate_birthdate(raw)  # without a clock only the form is checked


# ---------------------------------------------------------------- other identifiers


@pytest.mark.parametrize(
    ("raw", "expected"), [("1312345678", "1312345678"), ("１３１２３４５６７８", "1312345678")]
)
def test_medical_institution_code_accepted(raw: str, expected: str) -> None:
    assert validate_medical_institution_code(raw) == expected


@pytest.mark.parametrize("raw", ["", "131234567", "13123456789", "13123456a8"])
def test_medical_institution_code_rejected(raw: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        validate_medical_institution_code(raw)
    assert caught.value.field == "medical_institution_code"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", ""), ("  ", ""), ("1", "01"), ("01", "01"), ("１", "01"), ("12", "12"), ("００", "00")],
)
def test_branch_accepted(raw: str, expected: str) -> None:
    assert validate_branch(raw) == expected


@pytest.mark.parametrize("raw", ["123", "a", "1a"])
def test_branch_rejected(raw: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        validate_branch(raw)
    assert caught.value.field == "branch"


# ---------------------------------------------------------------- My Number (tests only)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("123456789018", True),  # weighted sum 212, 212 % 11 = 3, 11 - 3 = 8
        ("123456789017", False),
        ("000000000000", True),
        ("000000000060", True),  # remainder 1 → check digit 0
        ("000000000061", False),
        ("000000000019", True),  # 1×2 = 2 → 11 - 2 = 9
        ("12345678901", False),  # 11 digits
        ("1234567890180", False),
        ("12345678901a", False),
        ("１２３４５６７８９０１８", False),  # full width is not what a leak would look like
    ],
)
def test_my_number_check(number: str, valid: bool) -> None:
    assert is_valid_my_number(number) is valid
