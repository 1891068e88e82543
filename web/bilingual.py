"""One language of a message said in both ("日本語 / English").

device/ and sync/ word a few refusals for the command line, where both languages stand side by
side (a setting's check, an account rule, a configuration error). A page shows the reader's
language only: `one_language` picks that side. A message without both sides is returned as
it is, so an English-only or Japanese-only text is never cut.
"""

from __future__ import annotations

import re

_JAPANESE = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
_WORD = re.compile(r"[A-Za-z]{2,}")  # the English side says something in words
SEPARATOR = " / "


def split_languages(message: str) -> tuple[str, str] | None:
    """(Japanese, English) when `message` is "日本語 / English", else None.

    The split is at the first " / " with Japanese before it and none after it, so a list
    inside the Japanese side ("api / folders のいずれか / must be one of these") stays whole.
    """
    start = 0
    while (at := message.find(SEPARATOR, start)) != -1:
        before, after = message[:at], message[at + len(SEPARATOR) :]
        if _JAPANESE.search(before) and not _JAPANESE.search(after) and _WORD.search(after):
            return before.strip(), after.strip()
        start = at + 1
    return None


def one_language(message: str, lang: str) -> str:
    """The side of a bilingual message in `lang`; any other message unchanged."""
    sides = split_languages(message)
    if sides is None:
        return message
    ja, en = sides
    return en if lang == "en" else ja
