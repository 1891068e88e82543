"""The recovery sheet (web/recovery.py): admins only, the key only in the answer to a POST,
never cached, every showing audited; the printed text and QR read back as the key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from device.backup import RECOVERY_PREFIX, key_from_sheet
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store

from .test_admin import DESK, Admin, build, signed_in

PAGE = "/admin/recovery/"


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[tuple[Admin, FieldKeys]]:
    keys = FieldKeys.create(tmp_path / "store.key")  # <data_dir>/store.key, as the box has it
    store = Store(tmp_path / "onshi.db", FieldCipher(keys))
    yield build(tmp_path, store), keys
    store.close()


def test_only_admins_see_it_and_the_key_only_after_asking(
    keyed: tuple[Admin, FieldKeys],
) -> None:
    admin, keys = keyed
    hex_key = (keys.encryption + keys.index).hex()
    anonymous = admin.client.application.test_client()
    assert anonymous.get(PAGE).status_code == 302
    desk = signed_in(admin.client.application.test_client(), admin.accounts, DESK)
    assert desk.get(PAGE).status_code == 403 and desk.post(PAGE).status_code == 403
    page = admin.client.get(PAGE)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert hex_key[:4] not in page.get_data(as_text=True).replace(" ", "")  # not before asking
    assert admin.client.post(PAGE).status_code == 403  # no CSRF token
    assert not [a for a in admin.actions() if a[1] == "recovery.sheet_viewed"]
    assert 'href="/admin/recovery/"' in page.get_data(as_text=True)  # in the admin menu


def test_the_sheet_shows_the_key_as_text_and_qr_and_is_audited(
    keyed: tuple[Admin, FieldKeys],
) -> None:
    admin, keys = keyed
    r = admin.post(PAGE)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    shown = html.split('id="recovery-key" lang="en">', 1)[1].split("</p>", 1)[0]
    assert key_from_sheet(shown) == keys.encryption + keys.index
    assert "<svg" in html and "recovery-qr" in html
    assert "復旧シート" in html and "1312345670" in html
    assert ("kanri", "recovery.sheet_viewed", "store_key", "") in admin.actions()
    assert all(keys.encryption.hex()[:16] not in " ".join(a) for a in admin.actions())
    english = admin.client.post(PAGE + "?lang=en", data={"csrf_token": admin.csrf()}).get_data(
        as_text=True
    )
    assert "Recovery sheet" in english or "recovery sheet" in english


def test_the_qr_payload_reads_back_as_the_key(keyed: tuple[Admin, FieldKeys]) -> None:
    admin, keys = keyed
    from device.backup import recovery_key_text, recovery_qr_payload

    payload = recovery_qr_payload(recovery_key_text(admin.services.config))
    assert payload.startswith(RECOVERY_PREFIX)
    assert key_from_sheet(payload) == keys.encryption + keys.index


def test_a_missing_key_file_says_so(keyed: tuple[Admin, FieldKeys], tmp_path: Path) -> None:
    admin, _ = keyed
    (tmp_path / "store.key").unlink()
    r = admin.post(PAGE)
    assert r.status_code == 503 and "key_file" in r.get_data(as_text=True)
    assert not [a for a in admin.actions() if a[1] == "recovery.sheet_viewed"]
