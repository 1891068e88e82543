"""web/people.py: a person is shown by display name; parts of the appliance in words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from web.people import actor_text, display_name, namer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    yield s
    s.close()


def test_names_for_people_and_parts(store: Store) -> None:
    store.add_user("uketsuke", "受付 花子", ("reception",), "x")
    assert display_name(store, "uketsuke", "ja") == "受付 花子"
    assert display_name(store, "reader", "ja") == "カードリーダー"
    assert display_name(store, "reader", "en") == "card reader"
    assert display_name(store, "token:emr", "ja") == "token:emr"  # as recorded
    assert display_name(store, "", "ja") == ""
    name = namer(store, "en")
    assert name("uketsuke") == "受付 花子" and name("system") == "system"
    assert actor_text("someone-removed", {}, "ja") == "someone-removed"
