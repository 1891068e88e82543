"""Texts of the staff login pages: key → (Japanese, English); merged into present.STRINGS."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "login_title": ("職員ログイン", "Staff sign-in"),
}
