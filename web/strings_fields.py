"""What is wrong with a typed field, in words: the field names ("field_<name>") and one text per
problem ("input_<problem>" for device.checks.InputProblem, "identifier_<problem>" for
sync.identifiers.IdentifierProblem). Merged into present.STRINGS; read them with
web/field_errors.py, which puts the Japanese and the English side by side.
"""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    # fields typed at the desk (and the identifiers sync/identifiers checks anywhere)
    "field_insurer_number": ("保険者番号", "insurer number"),
    "field_symbol": ("記号", "symbol"),
    "field_number": ("番号", "number"),
    "field_branch": ("枝番", "branch number"),
    "field_birthdate": ("生年月日", "birthdate"),
    "field_care_date": ("診療日", "date of care"),
    "field_confirmation": ("照会元", "source of the numbers"),
    "field_medical_institution_code": ("医療機関コード", "medical institution code"),
    "field_check_digit_body": ("検証番号の計算対象", "check digit input"),
    # device.checks.InputProblem
    "input_missing": ("{field}が入力されていません", "{field} is missing"),
    "input_too_long": (
        "{field}は{limit}文字までです",
        "{field} must be at most {limit} characters",
    ),
    "input_unprintable": (
        "{field}に使えない文字があります",
        "{field} holds a character that cannot be sent",
    ),
    "input_date_format": (
        "{field}の形式が違います (例: 2026-04-01, R8.4.1)",
        "{field} format not recognised (e.g. 2026-04-01, R8.4.1)",
    ),
    "input_future": ("{field}に未来の日付は指定できません", "{field} cannot be in the future"),
    "input_after_care_date": ("{field}が診療日より後です", "{field} is after the date of care"),
    "input_no_numbers": (
        "{field}に照会できる番号がありません",
        "{field} holds no insurance numbers to ask with",
    ),
    # sync.identifiers.IdentifierProblem
    "identifier_missing": ("{field}が入力されていません", "{field} is missing"),
    "identifier_foreign_digit": (
        "{field}に使えない数字があります ({position}文字目)。0〜9 で入力してください",
        "{field} has a digit of another script (character {position}): type 0-9",
    ),
    "identifier_non_digit": (
        "{field}に数字以外の文字があります ({position}桁目)",
        "{field} contains a non-digit (position {position})",
    ),
    "identifier_length": (
        "{field}は{lengths}の数字です ({length}桁が入力されました)",
        "{field} must be {lengths} digits ({length} given)",
    ),
    "identifier_check_digit": (
        "{field}の検証番号が違います ({position}桁目: {typed} → {expected})",
        "{field} check digit is wrong (digit {position}: {typed}, expected {expected})",
    ),
    "identifier_not_a_date": ("{field}が存在しない日付です", "{field} is not a real calendar date"),
    "identifier_before_earliest": ("{field}が{year}年より前です", "{field} is before {year}"),
    "identifier_era_year_zero": ("{field}の{era}の年が0です", "{field} has {era} year 0"),
    "identifier_outside_era": (
        "{field}が{era}の期間外です ({era}は{start}〜{end})",
        "{field} is outside the {era} era ({start} to {end})",
    ),
    "identifier_date_format": (
        "{field}の形式が違います (例: 19700401, 1970-04-01, S45.4.1, 昭和45年4月1日)",
        "{field} format not recognised (e.g. 19700401, 1970-04-01, S45.4.1)",
    ),
    "identifier_future": (
        "{field}が未来の日付です。生年月日を確かめてください",
        "{field} is in the future: check the date of birth",
    ),
    # how many digits a number has: "6桁または8桁" / "6 or 8"
    "digits_or": ("または", " or "),
    "era_still_running": ("", "now"),
}
