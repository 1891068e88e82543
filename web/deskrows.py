"""Today's desk rows: what each shows beside its answer, and each row's HTML kept for the day
(web/rowcache.py), rendered ahead in the background so that a desk page finds them rendered.

The desk page (web/reception.py) reads today's answers and what is beside them and audits that
view on every load; only rendering is skipped for a row already rendered. The warm-up reads and
renders the same way with nobody looking: it shows nothing to anyone, so it audits nothing.

Rows are rendered ahead, in every language, by one thread (`start`; the appliance does not wait):
* at start, today's rows;
* an answer stored (ConfirmationStored on the bus): its row;
* a pre-check stored or appointments imported (a row's 前夜確認 words may change): today's rows
  again once the burst is over (a row whose words did change gets a key of its own);
* the day changed (periods that end show as ended; the cache empties): today's rows again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from flask import Flask, current_app
from markupsafe import Markup

from device.events import (
    AppointmentsImported,
    BusListener,
    ConfirmationStored,
    Event,
    EventBus,
    PrecheckStored,
)
from sync.clock import JST
from sync.store import Confirmation, Store
from web.appointments import precheck_notes
from web.present import LANGUAGES, confirmation_row, start_of_today, text
from web.rowcache import RowFragments

TODAY_LIMIT = 500
STOP_POLL_S = 0.5  # how soon stop() is heard, and how often the day is looked at
EXTENSION = "onshi_desk_rows"

AuditEntry = tuple[str, str, str]  # (action, subject, detail) for Store.audit_all


@dataclass(frozen=True)
class Shown:
    """One answer and what its desk row shows beside it."""

    confirmation: Confirmation
    staff: str  # who confirmed a 目視 visit
    earlier: Confirmation | None  # the 前回確認 of an offline visit
    precheck: str  # the appointment's 前夜確認, in words

    def key(self, lang: str) -> tuple[Any, ...]:
        """What its rendered row depends on besides the day (web/rowcache.py)."""
        c = self.confirmation
        earlier = self.earlier.id if self.earlier is not None else None
        return (c.id, c.file_id, lang, self.staff, self.precheck, earlier)


class DeskRows:
    """Today's rows of the desk page and their rendered HTML, shared by the page and the
    warm-up."""

    def __init__(self, app: Flask, store: Store, bus: EventBus) -> None:
        self._app = app
        self._store = store
        # Both languages of a full day.
        self._fragments = RowFragments(TODAY_LIMIT * len(LANGUAGES))
        self._listener = BusListener(bus, "desk-rows", self.handle, STOP_POLL_S)
        self._warmed: date | None = None  # the day the warm-up last rendered whole
        self._stale = False  # what is beside rows changed since

    # -- the rows, as the page and the warm-up both read them ------------------------------
    def today(self) -> date:
        return self._store.now().astimezone(JST).date()  # the store's clock: trusted time

    def found_today(self) -> list[Confirmation]:
        """Today's answers, newest first."""
        since = start_of_today(self._store.now())  # the store's clock: trusted time, as rows are
        return self._store.recent_confirmations(since, TODAY_LIMIT)

    def beside(
        self, found: Sequence[Confirmation], lang: str
    ) -> tuple[list[Shown], list[AuditEntry]]:
        """`found` with what their rows show beside each answer, with one look-up each for
        all of them: the earlier answers of offline visits, the staff of 目視 visits, the
        appointments' 前夜確認; and the views to audit when they are shown (each earlier
        answer, naming the row it is shown for)."""
        wanted = {c.id: c.earlier_id for c in found if c.offline and c.earlier_id is not None}
        earlier = self._store.confirmations_by_id(set(wanted.values())) if wanted else {}
        views = [
            ("confirmation.view", f"confirmation:{e}", f"shown for confirmation:{c}")
            for c, e in wanted.items()
            if e in earlier
        ]
        staff = staff_names(self._store, found)
        notes = precheck_notes(self._store, found, lang)
        shown = [
            Shown(
                c,
                staff.get(c.id, ""),
                earlier.get(c.earlier_id) if c.offline and c.earlier_id else None,
                note["text"] if note else "",
            )
            for c, note in zip(found, notes, strict=True)
        ]
        return shown, views

    def rendered(self, shown: Sequence[Shown], lang: str, day: date) -> list[Markup]:
        """The rows' HTML: each rendered once a day (and again when what is beside it
        changes). Inside an app context (a request, or the warm-up's own)."""
        macro: Callable[[dict[str, Any]], Markup] | None = None

        def render(one: Shown) -> Markup:
            nonlocal macro
            if macro is None:  # the row macro, once per page that renders any
                macro = row_macro(lang)
            return macro(as_row(one, lang, day))

        return [
            self._fragments.row(day, one.key(lang), functools.partial(render, one)) for one in shown
        ]

    # -- the warm-up ------------------------------------------------------------------------
    def warm_today(self) -> int:
        """Render today's rows in every language ahead of any page; how many rows."""
        day = self.today()
        self._warmed, self._stale = day, False
        return self._warm(self.found_today(), day)

    def warm(self, confirmation_ids: Collection[int]) -> int:
        """Render these answers' rows (those of today) in every language; how many rows."""
        since = start_of_today(self._store.now())
        found = [
            c
            for c in self._store.confirmations_by_id(confirmation_ids).values()
            if c.created_at >= since
        ]
        return self._warm(found, self.today())

    def handle(self, event: Event | None) -> None:
        """What the warm-up does on `event` (None: nothing was published for a while)."""
        if isinstance(event, ConfirmationStored):
            self.warm([event.confirmation_id])
        elif isinstance(event, PrecheckStored | AppointmentsImported):
            self._stale = True  # rendered once the burst is over (a bulk run stores hundreds)
        if (event is None and self._stale) or self.today() != self._warmed:
            self.warm_today()

    def _warm(self, found: Sequence[Confirmation], day: date) -> int:
        if not found:
            return 0
        with self._app.app_context():  # the row macro is the app's template
            for lang in LANGUAGES:
                shown, _views = self.beside(found, lang)  # shown to nobody: nothing to audit
                self.rendered(shown, lang, day)
        return len(found)

    def start(self) -> None:
        """Render today's rows, then each new one, in a thread (subscribed before returning:
        no answer stored after falls between)."""
        self._listener.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._listener.stop(timeout)


def desk_rows(app: Flask) -> DeskRows:
    """The staff app's desk rows (web/app.py puts them there), for the appliance to start."""
    return cast(DeskRows, app.extensions[EXTENSION])


def as_row(one: Shown, lang: str, day: date) -> dict[str, Any]:
    shown = confirmation_row(one.confirmation, lang, one.staff, one.earlier, day)
    shown["precheck"] = one.precheck
    return shown


def row_macro(lang: str) -> Callable[[dict[str, Any]], Markup]:
    """The row macro of _row.html, with the page's words in `lang`."""
    words = {"t": lambda key, **values: text(key, lang, **values)}
    module = current_app.jinja_env.get_template("_row.html").make_module(words)
    macro = module.confirmation_row  # type: ignore[attr-defined]
    return cast(Callable[[dict[str, Any]], Markup], macro)


def staff_names(store: Store, found: Sequence[Confirmation]) -> dict[int, str]:
    """Confirmation id → who confirmed it, for the 目視 visits among `found` (one read of
    their visits; each person's name looked up once)."""
    visual = {c.id: c.visit_id for c in found if c.method == "visual" and c.visit_id}
    if not visual:
        return {}
    visits = store.visits_by_id(set(visual.values()))
    names: dict[str, str] = {}
    staff: dict[int, str] = {}
    for confirmation_id, visit_id in visual.items():
        visit = visits.get(visit_id)
        if visit is None:
            continue
        if visit.staff not in names:
            names[visit.staff] = display_name_of(store, visit.staff)
        staff[confirmation_id] = names[visit.staff]
    return staff


def display_name_of(store: Store, username: str) -> str:
    """The name a person is shown by (their user name when the account is gone)."""
    if not username:
        return ""
    user = store.user_by_username(username)
    return user.display_name if user is not None else username
