"""web/bilingual.py: a page shows one side of a "日本語 / English" message."""

from __future__ import annotations

import pytest

from web.bilingual import one_language, split_languages


@pytest.mark.parametrize(
    ("message", "ja", "en"),
    [
        (
            "10桁の数字で指定してください / must be 10 digits",
            "10桁の数字で指定してください",
            "must be 10 digits",
        ),
        (
            "api / folders のいずれか / must be one of these",
            "api / folders のいずれか",
            "must be one of these",
        ),
        (
            "1〜65535の範囲で指定してください / must be between 1 and 65535",
            "1〜65535の範囲で指定してください",
            "must be between 1 and 65535",
        ),
        (
            "ユーザー a/b は既に存在します / user a/b already exists",
            "ユーザー a/b は既に存在します",
            "user a/b already exists",
        ),
    ],
)
def test_both_sides(message: str, ja: str, en: str) -> None:
    assert split_languages(message) == (ja, en)
    assert one_language(message, "ja") == ja
    assert one_language(message, "en") == en


@pytest.mark.parametrize(
    "message",
    ["true / false", "must be 10 digits", "日本語だけ", "例: S45.12.3 / 1970-12-03", ""],
)
def test_a_message_in_one_language_is_kept_whole(message: str) -> None:
    assert split_languages(message) is None
    assert one_language(message, "ja") == message == one_language(message, "en")
