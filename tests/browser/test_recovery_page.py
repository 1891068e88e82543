"""The recovery sheet and the nightly backup on a whole appliance (real pcscd, SQLite, HTTPS).

An admin (past the second factor) opens 「復旧シート」 from the admin menu, asks for the key, sees
it as text and QR code — the key file's own bytes — and only the sheet is printed; the showing is
in the audit log. The appliance's scheduler then runs the `backup` job into the configured folder
with the passphrase from its file, and that backup restores on a new data directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from device.appliance import Appliance
from device.backup import key_from_sheet, restore_backup
from device.config import load_config
from device.parts import open_store, store_keys

from .conftest import SCREENSHOTS
from .test_staff_pages import ADMIN, code_for

pytestmark = [pytest.mark.browser, pytest.mark.stack]

PASSPHRASE = "夜間バックアップの合言葉 2026"


def test_recovery_sheet_and_the_nightly_backup(
    appliance_factory: Callable[..., Appliance], browser: Any, tmp_path: Path
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    passphrase_file = tmp_path / "backup-passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    os.chmod(passphrase_file, 0o600)
    appliance = appliance_factory(backup_dir=usb, backup_passphrase_file=passphrase_file)
    accounts = appliance.services.accounts
    assert accounts is not None
    accounts.create_user(ADMIN[0], ADMIN[1], ADMIN[2], ADMIN[3], actor="test")
    base = appliance.staff.base_url
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1100, "height": 900}, locale="ja-JP"
    )
    page = context.new_page()
    page.goto(base + "/login?next=/admin/")
    page.fill("#username", ADMIN[0])
    page.fill("#password", ADMIN[3])
    page.click("button.login-submit")
    page.wait_for_selector("#enrol-required")
    page.fill("#code", code_for(page.inner_text("#totp-secret"), datetime.now(UTC)))
    page.press("#code", "Enter")
    page.wait_for_url(lambda url: "/account/totp" not in url)

    page.goto(base + "/admin/status")
    page.click("text=復旧シート")
    page.wait_for_selector("#recovery-show")
    assert page.query_selector("#recovery-key") is None  # nothing shown before asking
    page.click("#recovery-show")
    page.wait_for_selector("#recovery-key")
    keys = store_keys(appliance.services.config, create=False)
    assert key_from_sheet(page.inner_text("#recovery-key")) == keys.encryption + keys.index
    assert page.query_selector(".recovery-qr-box svg") is not None
    page.screenshot(path=str(SCREENSHOTS / "admin-recovery-sheet.png"), full_page=True)
    page.emulate_media(media="print")  # on paper: the sheet, not the menu or the buttons
    assert page.is_visible("#recovery-sheet") and not page.is_visible("nav")
    assert not page.is_visible("#recovery-print")
    context.close()
    store = appliance.services.store
    (viewed,) = store.audit_search(action="recovery.sheet_viewed")
    assert viewed.actor == ADMIN[0]

    assert appliance.jobs.run_now("backup") == 1
    assert appliance.jobs.run_now("backup") == 0  # once a day
    (file,) = usb.glob("onshi-*.backup")
    assert store.audit_search(action="backup.written")

    new_card = load_config(environ={}, overrides={"data_dir": tmp_path / "new-card"})
    done = restore_backup(new_card, file, PASSPHRASE, now=datetime.now(UTC), actor="cli:test")
    assert done.counts["users"] >= 3
    restored = open_store(new_card)
    try:
        assert restored.user_by_username(ADMIN[0]) is not None
        assert restored.verify_audit_detail().ok
    finally:
        restored.close()
