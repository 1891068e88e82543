"""The answers that change after an outage (`--changed-after-recovery`), the same every run.

While the central service was down, the world moved on for three people; the appliance's
re-check queue must notice each kind of change once the service is back:

- P001 佐藤 翔太 (valid, 30 %): loses the qualification (退職) on the day the outage began —
  validity 2 (資格無効) with that day as the disqualification date.
- P004 鈴木 健一 (70–74, 20 %): reassessed as working-level income — contribution ratio 30 %.
- P008 山本 大輔 (国保 世田谷区): joined 協会けんぽ on the day the outage began — the old
  qualification answers validity 3 (新しい資格あり) and shows the newer one, record P008B, with
  another insurer number (01130012, 記号 40100808 番号 21).

"The day the outage began" is the Japan date of the start of the down period that ended first,
read from the simulator's clock.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sim.people import KYOKAI, Person
from sync.clock import JST

LOST = "P001"
RATIO = "P004"
MOVED = "P008"
MOVED_TO = "P008B"
CHANGED_IDS = (LOST, RATIO, MOVED)

NEW_SYMBOL = "40100808"
NEW_NUMBER = "21"


def changed_people(people: tuple[Person, ...], down_since: datetime) -> tuple[Person, ...]:
    """The population after the changes (the new record for P008 appended)."""
    day = down_since.astimezone(JST).strftime("%Y%m%d")
    out: list[Person] = []
    for p in people:
        if p.id == LOST:
            p = replace(
                p,
                scenario="資格喪失 (障害中に退職) / lost during the outage (left job)",
                validity="2",
                disqualification_date=day,
                reason_of_loss="99",
            )
        elif p.id == RATIO:
            p = replace(
                p,
                scenario="70〜74歳・現役並み3割に変更 / age 70–74, reassessed to 30 %",
                contribution_ratio="030",
                elderly_ratio="030",
            )
        elif p.id == MOVED:
            out.append(
                replace(
                    p,
                    id=MOVED_TO,
                    scenario="P008の新しい資格 (協会けんぽ) / P008's newer qualification",
                    insurer_number=KYOKAI.number,
                    insurer_name=KYOKAI.name,
                    symbol=NEW_SYMBOL,
                    number=NEW_NUMBER,
                    branch="00",
                    qualification_date=day,
                    card_status="none",
                )
            )
            p = replace(
                p,
                scenario="旧資格 (障害中に転職) / old qualification (new job during the outage)",
                validity="3",
                disqualification_date=day,
                reason_of_loss="03",
                newer_id=MOVED_TO,
            )
        out.append(p)
    return tuple(out)
