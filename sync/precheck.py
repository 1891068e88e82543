"""What a pre-check (the night-before bulk inquiry) found for one appointment: its class.

The morning desk acts on the class; the words and colours are web/'s. The rules that give a
unit its class are `classify` below.
"""

from __future__ import annotations

from enum import StrEnum


class PrecheckClass(StrEnum):
    VALID = "valid"  # 確認済・有効
    INVALID = "invalid"  # 資格無効 (QualificationValidity 2 or 3)
    NOT_FOUND = "not_found"  # 該当なし (4)
    MULTIPLE = "multiple"  # 複数該当 (5)
    NUMBERS_DIFFER = "numbers_differ"  # 記号番号の相違: valid, but not the numbers the list holds
    LIMIT_CHANGED = "limit_changed"  # 限度額区分の変更あり: valid, limit class differs from before
    FAILED = "failed"  # the central answered this entry with an error (or not at all)

    @property
    def needs_attention(self) -> bool:
        return self is not PrecheckClass.VALID
