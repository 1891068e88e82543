"""`onshi backup` and `onshi restore` as an IT helper runs them: the installed command, a real
store file written beside an open connection (the running appliance), a wrong passphrase, a
restore refused while the store is in use, then one on a wiped data directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from device.config import load_config
from device.parts import open_store
from tests.unit.test_backup import PASSPHRASE, fill, read_all

ONSHI = str(Path(sys.executable).parent / "onshi")


def onshi(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONSHI_")}
    return subprocess.run(
        [ONSHI, "--config", str(config), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_backup_and_restore_through_the_command(tmp_path: Path) -> None:
    data, usb = tmp_path / "data", tmp_path / "usb"
    usb.mkdir()
    passphrase_file = tmp_path / "backup-passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    passphrase_file.chmod(0o600)
    toml = tmp_path / "onshi.toml"
    toml.write_text(
        f'data_dir = "{data}"\nbackup_dir = "{usb}"\nbackup_keep = 2\n'
        f'backup_passphrase_file = "{passphrase_file}"\n'
    )
    config = load_config(toml, environ={})
    ids = fill(config, 50)

    running = open_store(config)  # the appliance keeps writing while the backup is taken
    try:
        made = onshi(toml, "backup")
        assert made.returncode == 0, made.stderr
        running.audit("admin1", "settings.change", "setting:x", "after the backup")
        busy = onshi(toml, "restore", "--passphrase-stdin", *_newest(usb), stdin=PASSPHRASE)
        assert busy.returncode == 75, busy.stderr
        assert "stop it first" in busy.stderr
    finally:
        running.close()
    assert "backup written" in made.stdout and "confirmations 50" in made.stdout
    assert PASSPHRASE not in made.stdout + made.stderr

    wrong = onshi(toml, "restore", "--passphrase-stdin", *_newest(usb), stdin="wrong words!!")
    assert wrong.returncode == 77
    assert "パスフレーズが違います" in wrong.stderr and "nothing was changed" in wrong.stderr

    shutil.rmtree(data)  # the SD card died
    restored = onshi(toml, "restore", "--passphrase-stdin", *_newest(usb), stdin=PASSPHRASE + "\n")
    assert restored.returncode == 0, restored.stderr
    assert "audit chain holds" in restored.stdout
    store = read_all(config, ids)
    try:
        # the backup's state: the entry written after it is not there, the restore is
        assert not store.audit_search(subject_prefix="setting:x")
        assert store.audit_search(action="backup.restored")
    finally:
        store.close()

    cut = usb / "cut.backup"
    cut.write_bytes(Path(_newest(usb)[0]).read_bytes()[:-100])
    damaged = onshi(toml, "restore", "--passphrase-stdin", str(cut), stdin=PASSPHRASE)
    assert damaged.returncode == 65 and "cut short" in damaged.stderr

    missing = tmp_path / "other.toml"
    missing.write_text(toml.read_text().replace(str(usb), str(tmp_path / "not-mounted")))
    unplugged = onshi(missing, "backup")
    assert unplugged.returncode == 73 and "mounted" in unplugged.stderr


def _newest(folder: Path) -> list[str]:
    return [str(sorted(folder.glob("onshi-*.backup"))[-1])]
