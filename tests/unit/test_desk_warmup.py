"""Desk rows rendered ahead (web/deskrows.py): at start, as answers are stored and when what
is beside a row changes, so a desk page finds its rows rendered; the page still audits each
load, the warm-up never (it shows nothing to anyone)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup

import web.deskrows
from device.events import ConfirmationStored, PrecheckStored
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from web.deskrows import DeskRows, desk_rows
from web.rowcache import RowFragments

from .test_desk_batched import INSURER, book, offline_beside
from .test_web import Setup, audit_actions, build, qualification, result, save

NOW = datetime(2031, 5, 7, 1, 0, tzinfo=UTC)  # 10:00 JST
WAIT_S = 30.0  # a bound for the warm-up thread on a loaded machine, never a timing


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), lambda: NOW)
    yield s
    s.close()


class Renders:
    """Every row the row macro renders, by language (the warm-up's and the pages')."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.langs: list[str] = []
        self.done = threading.Condition()
        made = web.deskrows.row_macro

        def counted(lang: str) -> Callable[[dict[str, Any]], Markup]:
            macro = made(lang)

            def render(row: dict[str, Any]) -> Markup:
                html = macro(row)
                with self.done:
                    self.langs.append(lang)
                    self.done.notify_all()
                return html

            return render

        monkeypatch.setattr(web.deskrows, "row_macro", counted)

    def wait_for(self, count: int) -> None:
        with self.done:
            assert self.done.wait_for(lambda: len(self.langs) >= count, WAIT_S), self.langs


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Renders:
    return Renders(monkeypatch)


def staff_rows(setup: Setup) -> DeskRows:
    return desk_rows(setup.staff)


def test_a_stored_answers_row_is_rendered_in_both_languages_before_any_page(
    tmp_path: Path, store: Store, renders: Renders
) -> None:
    setup = build(tmp_path, store)
    rows = staff_rows(setup)
    rows.start()
    try:
        stored = save(store, result(qualification()), "f1")
        setup.bus.publish(ConfirmationStored(stored.id, None))
        renders.wait_for(2)
    finally:
        rows.stop()
    assert sorted(renders.langs) == ["en", "ja"]
    client = setup.signed_in()
    japanese = client.get("/").get_data(as_text=True)
    english = client.get("/?lang=en").get_data(as_text=True)
    assert f'data-confirmation-id="{stored.id}"' in japanese and "詳細" in japanese
    assert f'data-confirmation-id="{stored.id}"' in english
    assert sorted(renders.langs) == ["en", "ja"]  # both pages found their row rendered


def test_the_warm_up_at_start_renders_todays_rows(
    tmp_path: Path, store: Store, renders: Renders
) -> None:
    setup = build(tmp_path, store)
    for n in range(3):
        save(store, result(qualification(number=str(1000 + n))), f"f{n}")
    rows = staff_rows(setup)
    rows.start()
    try:
        renders.wait_for(6)  # three rows, two languages
    finally:
        rows.stop()
    assert sorted(renders.langs) == ["en"] * 3 + ["ja"] * 3
    page = setup.signed_in().get("/").get_data(as_text=True)
    assert page.count("data-confirmation-id=") == 3
    assert len(renders.langs) == 6  # nothing rendered by the page


def test_a_page_of_rows_rendered_ahead_still_audits_its_views(
    tmp_path: Path, store: Store, renders: Renders
) -> None:
    setup = build(tmp_path, store)
    client = setup.signed_in()
    arrived = save(store, result(qualification()), "f-arrive")
    offline = offline_beside(store, 1, arrived.id)
    before = audit_actions(store)
    assert staff_rows(setup).warm_today() == 2
    assert audit_actions(store) == before  # shown to nobody: no view to audit
    assert len(renders.langs) == 4
    page = client.get("/").get_data(as_text=True)
    assert f'data-confirmation-id="{offline}"' in page
    assert len(renders.langs) == 4  # served from the rows rendered ahead
    added = audit_actions(store)[len(before) :]
    assert sorted(added) == [
        ("reception", "confirmation.list", "confirmations:today"),
        ("reception", "confirmation.view", f"confirmation:{arrived.id}"),
    ]


def test_new_precheck_words_render_the_row_anew(
    tmp_path: Path, store: Store, renders: Renders
) -> None:
    ids = book(store)
    setup = build(tmp_path, store)
    rows = staff_rows(setup)
    client = setup.signed_in()
    save(store, result(qualification(insurer_number=INSURER, symbol="記号1", number="1234")), "a")
    rows.warm_today()
    assert len(renders.langs) == 2
    store.record_precheck(ids["P003"], klass="valid", raw=b"", checked_at=NOW, actor="t")
    # Before the warm-up hears of it, the page renders the row with its new words itself.
    assert "前夜確認: 確認済・有効" in client.get("/").get_data(as_text=True)
    assert renders.langs[2:] == ["ja"]
    store.record_precheck(ids["P003"], klass="not_found", raw=b"", checked_at=NOW, actor="t")
    rows.handle(PrecheckStored(ids["P003"], "not_found"))
    assert len(renders.langs) == 3  # not during a burst of pre-checks
    rows.handle(None)  # quiet: today's rows again, with the new words
    assert renders.langs[3:] == ["ja", "en"]
    page = client.get("/").get_data(as_text=True)
    assert "前夜確認: " in page and "確認済・有効" not in page
    assert len(renders.langs) == 5  # served from the row rendered ahead


def test_a_full_row_cache_lets_the_first_rendered_row_go() -> None:
    fragments = RowFragments(2)
    today = NOW.date()
    for key in ("a", "b", "c"):
        fragments.row(today, key, lambda key=key: Markup(key))  # type: ignore[misc]
    assert len(fragments) == 2
    again: list[str] = []
    for key in ("c", "b", "a"):
        fragments.row(today, key, lambda key=key: again.append(key) or Markup(key))  # type: ignore[misc]
    assert again == ["a"]  # "b" and "c" were kept; "a" went first
