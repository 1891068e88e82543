"""Desk rows as rendered, kept for the day: a row of an answer already given never changes,
so the desk page renders each row once and then reuses its HTML.

A row's HTML is keyed by everything it is made of besides the stored answer itself, which
never changes once stored: the answer's id and file id, the language, the name of the staff
member of a 目視 visit, the appointment's 前夜確認 words and the earlier answer shown for an
offline visit; the day (periods that end show as ended) empties the whole cache when it
changes. Only rendering is skipped: the page still reads its rows, looks up what is beside
them and audits its views on every load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from datetime import date

from markupsafe import Markup


class RowFragments:
    """The rendered rows of one day, at most `size`: when full, the row rendered first goes
    (the oldest answer's, or a row's earlier version), so the day's newest rows stay."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._day: date | None = None
        self._rows: dict[Hashable, Markup] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def row(self, day: date, key: Hashable, render: Callable[[], Markup]) -> Markup:
        """The HTML of the row `key` on `day`: kept, or rendered now and kept."""
        with self._lock:
            if day != self._day:
                self._rows.clear()
                self._day = day
            found = self._rows.get(key)
        if found is not None:
            return found
        html = render()
        with self._lock:
            if day == self._day:
                if key not in self._rows and len(self._rows) >= self._size:
                    del self._rows[next(iter(self._rows))]  # dicts keep insertion order
                self._rows[key] = html
        return html
