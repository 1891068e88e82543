"""Texts of the clinical (doctor) pages: key → (Japanese, English); merged into present.STRINGS."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "clinical_link": ("診療情報", "Clinical"),
}
