"""A database that holds data never opens with a new key, and its files are private whatever
the umask."""

from __future__ import annotations

import io
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.cli import EXIT_CONFIG, main
from device.config import Config, load_config
from device.parts import open_store
from sync.fieldcrypt import FieldCipher, FieldKeys, KeyFileError, KeyMismatchError
from sync.store import Store, holds_data
from sync.xmlmsg import parse_result
from tests.unit.test_store import answer


def config_at(data_dir: Path, **overrides: object) -> Config:
    return load_config(None, environ={}, overrides={"data_dir": data_dir, **overrides})


def with_an_answer(config: Config) -> None:
    store = open_store(config)
    try:
        store.save_confirmation(
            file_id="f1",
            raw_result=answer("f1"),
            result=parse_result(answer("f1")),
            kind="numbers",
            method="numbers",
            actor="r",
        )
    finally:
        store.close()


def test_a_new_empty_database_gets_a_new_key(tmp_path: Path) -> None:
    config = config_at(tmp_path / "data")
    open_store(config).close()
    assert config.store_key_path.exists()
    open_store(config).close()  # and opens with it again


def test_a_missing_key_file_is_refused_naming_it_and_none_is_made(tmp_path: Path) -> None:
    config = config_at(tmp_path / "data")
    with_an_answer(config)
    config.store_key_path.rename(tmp_path / "store.key.elsewhere")
    with pytest.raises(KeyFileError) as refused:
        open_store(config)
    text = str(refused.value)
    assert str(config.store_key_path) in text and str(config.database_path) in text
    assert "鍵ファイル" in text and "Restore the key file from the backup" in text
    assert not config.store_key_path.exists()  # no new key
    (tmp_path / "store.key.elsewhere").rename(config.store_key_path)
    store = open_store(config)
    assert store.count_confirmations() == 1
    store.close()


def test_a_mistyped_key_file_setting_is_refused(tmp_path: Path) -> None:
    config = config_at(tmp_path / "data")
    with_an_answer(config)
    typo = config_at(tmp_path / "data", key_file=tmp_path / "data" / "stor.key")
    with pytest.raises(KeyFileError, match="stor.key"):
        open_store(typo)
    assert not (tmp_path / "data" / "stor.key").exists()


def test_another_key_is_refused_by_the_key_check(tmp_path: Path) -> None:
    config = config_at(tmp_path / "data")
    with_an_answer(config)
    config.store_key_path.unlink()
    FieldKeys.create(config.store_key_path)  # someone made a new key by hand
    with pytest.raises(KeyMismatchError) as refused:
        open_store(config)
    assert str(config.store_key_path) in str(refused.value)
    assert "is not the key of the database" in str(refused.value)


def test_a_database_from_before_the_check_is_checked_against_an_encrypted_row(
    tmp_path: Path,
) -> None:
    keys = FieldKeys.generate()
    path = tmp_path / "onshi.db"
    store = Store(path, FieldCipher(keys))
    store.save_confirmation(
        file_id="f1",
        raw_result=answer("f1"),
        result=parse_result(answer("f1")),
        kind="numbers",
        method="numbers",
        actor="r",
    )
    store.close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM store_meta WHERE name = 'key_check'")  # as before the check
    conn.close()
    with pytest.raises(KeyMismatchError, match="does not decrypt"):
        Store(path, FieldCipher(FieldKeys.generate()))
    reopened = Store(path, FieldCipher(keys))  # the right key: the check is written again
    reopened.close()
    with pytest.raises(KeyMismatchError, match="not this database's key"):
        Store(path, FieldCipher(FieldKeys.generate()))


def test_holds_data(tmp_path: Path) -> None:
    path = tmp_path / "onshi.db"
    assert not holds_data(path)
    sqlite3.connect(path).close()
    assert not holds_data(path)  # an empty file
    store = Store(path, FieldCipher(FieldKeys.generate()))
    store.close()
    assert holds_data(path)  # it has a key check: a key belongs to it


def test_the_cli_maps_a_missing_key_to_the_config_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    with_an_answer(config_at(data))
    (data / "store.key").unlink()
    monkeypatch.setenv("ONSHI_DATA_DIR", str(data))
    monkeypatch.delenv("ONSHI_CONFIG", raising=False)
    assert main(["audit", "verify"]) == EXIT_CONFIG
    assert "store.key" in capsys.readouterr().err
    assert not (data / "store.key").exists()  # verify never makes a key
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password 1\n"))
    assert main(["admin", "create-user", "x1", "--name", "X", "--password-stdin"]) == EXIT_CONFIG
    assert not (data / "store.key").exists()


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def modes(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mode & 0o777 for p in directory.iterdir()}


def test_files_are_private_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    config = config_at(tmp_path / "data")
    store = open_store(config)
    store.audit("admin", "login.success", "user:1")
    assert config.data_dir.stat().st_mode & 0o777 == 0o700
    found = modes(config.data_dir)
    assert set(found) >= {
        "onshi.db",
        "onshi.db-wal",
        "onshi.db-shm",
        "store.key",
        "onshi.db.anchor",
    }
    assert set(found.values()) == {0o600}, found
    store.close()


def test_files_left_wider_by_an_older_version_are_narrowed(
    tmp_path: Path, open_umask: None
) -> None:
    config = config_at(tmp_path / "data")
    open_store(config).close()
    config.data_dir.chmod(0o755)
    config.database_path.chmod(0o644)
    config.database_path.with_name("onshi.db.anchor").chmod(0o644)
    open_store(config).close()
    assert config.data_dir.stat().st_mode & 0o777 == 0o700
    assert set(modes(config.data_dir).values()) == {0o600}


def test_a_key_file_appears_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_path = tmp_path / "data" / "store.key"

    def killed_while_linking(src: object, dst: object) -> None:
        raise KeyboardInterrupt("killed")  # the process dies after writing, before linking

    monkeypatch.setattr(os, "link", killed_while_linking)
    with pytest.raises(KeyboardInterrupt):
        FieldKeys.create(key_path)
    assert not key_path.exists()  # never a short key file the next start would refuse
    assert list(key_path.parent.iterdir()) == []  # and no partial file left behind
    monkeypatch.undo()
    created = FieldKeys.create(key_path)
    assert FieldKeys.load(key_path) == created
    with pytest.raises(FileExistsError):
        FieldKeys.create(key_path)  # never overwrites a key
    assert FieldKeys.load(key_path) == created
