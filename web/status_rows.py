"""The admin status page's rows: device/status.py's items and findings in words and colours.

Each finding is worded in both languages; the page shows the reader's one (`value_in`,
`detail_in`). `value` and `detail` give both at once ("応答あり / running") for a log or a
test; one that is the same in both (a size, a log line, an error message said by something
else) is given once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from device.clocktrust import describe_seconds
from device.status import Fact, Finding, StatusItem
from sync.clock import JST
from web.bilingual import one_language
from web.present import STRINGS, text


@dataclass(frozen=True)
class StatusRow:
    key: str
    ok: bool | None  # True green, None amber, False red
    label_ja: str
    label_en: str
    value_ja: str
    value_en: str
    details: tuple[tuple[str, str], ...]  # (Japanese, English) per finding

    @property
    def level(self) -> str:
        """ "ok", "warn" or "bad": the CSS class and the word shown beside the colour."""
        return "ok" if self.ok is True else "bad" if self.ok is False else "warn"

    def label_in(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_ja

    def value_in(self, lang: str) -> str:
        return self.value_en if lang == "en" else self.value_ja

    def detail_in(self, lang: str) -> str:
        return "\n".join(en if lang == "en" else ja for ja, en in self.details)

    @property
    def value(self) -> str:
        """Both languages at once (a log, a test), each line once when they are the same."""
        return _joined(self.value_ja, self.value_en)

    @property
    def detail(self) -> str:
        return "\n".join(_joined(ja, en) for ja, en in self.details)


def _joined(ja: str, en: str) -> str:
    return ja if ja == en else f"{ja} / {en}"


def status_row(item: StatusItem) -> StatusRow:
    label = "status_" + item.key
    label_ja, label_en = STRINGS.get(label, (item.key, item.key))
    return StatusRow(
        key=item.key,
        ok=item.ok,
        label_ja=label_ja,
        label_en=label_en,
        value_ja=finding_text(item.value, "ja"),
        value_en=finding_text(item.value, "en"),
        details=tuple((finding_text(f, "ja"), finding_text(f, "en")) for f in item.detail),
    )


def finding_text(finding: Finding, lang: str) -> str:
    fact, values = finding.fact, finding.values
    if fact is Fact.TEXT:  # said by something else, maybe in both languages: the reader's side
        return one_language(str(values["text"]), lang)
    if fact is Fact.LOG_RECORD:
        at: datetime = values["at"]
        who = f"{values['level']} {values['logger']}"
        return f"{at.astimezone(JST):%Y-%m-%d %H:%M:%S} {who}: {values['message']}"
    if fact is Fact.READER_CARD:
        present = values["present"]
        card = "unknown" if present is None else "present" if present else "none"
        return f"{values['reader']}: {_words('status_reader_card_' + card, lang, {})}"
    if fact is Fact.NTP:
        synchronised = values["synchronised"]
        state = "unknown" if synchronised is None else "yes" if synchronised else "no"
        return _words("status_ntp_" + state, lang, {})
    if fact is Fact.CLOCK_OFFSET:
        seconds: float = values["seconds"]
        side = "ahead" if seconds >= 0 else "behind"
        return _words(
            "status_clock_" + side,
            lang,
            {"offset": f"{seconds:+.1f}", "size": describe_seconds(abs(seconds), lang)[1:]},
        )
    if fact is Fact.CLOCK_JUMP:
        jump: float = values["seconds"]
        return _words(
            "status_clock_jump",
            lang,
            {
                "at": f"{values['at'].astimezone(JST):%Y-%m-%d %H:%M:%S}",
                "size": describe_seconds(jump, lang),
            },
        )
    return _words("status_" + fact.value, lang, _shown(values))


def _shown(values: dict[str, Any]) -> dict[str, Any]:
    """Numbers as the page shows them: bytes in MB, times in Japan, a name quoted."""
    shown = dict(values)
    for key in ("size", "free", "reserve"):
        if key in shown:
            shown[key] = _megabytes(shown[key])
    if "ms" in shown:
        shown["ms"] = f"{shown['ms']:.0f}"
    if "reader" in shown:
        shown["reader"] = repr(shown["reader"])
    if isinstance(shown.get("at"), str):  # an audit time
        shown["when"] = _audit_time(shown["at"])
    elif isinstance(shown.get("at"), datetime):
        shown["at"] = f"{shown['at'].astimezone(JST):%Y-%m-%d %H:%M}"
    return shown


def _words(key: str, lang: str, values: dict[str, Any]) -> str:
    if key not in STRINGS:  # a finding nobody worded yet: its name, not a failed page
        return key.removeprefix("status_")
    return text(key, lang, **values)


def _audit_time(at: str) -> str:
    try:
        return f"{datetime.fromisoformat(at).astimezone(JST):%Y-%m-%d %H:%M} JST"
    except ValueError:
        return at[:32]


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
