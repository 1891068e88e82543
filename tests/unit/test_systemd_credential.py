"""The store key as a systemd credential ($CREDENTIALS_DIRECTORY/store-key): used instead of a
key file, never copied beside the data, and refused when a key file beside the data differs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from device.parts import open_store
from device.storekey import CREDENTIAL_NAME, credential_path
from sync.fieldcrypt import KEY_FILE_BYTES, FieldKeys, KeyMismatchError
from tests.unit.test_store_keys import config_at, with_an_answer


def credential(tmp_path: Path, raw: bytes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What systemd does for LoadCredentialEncrypted=store-key:...: a 0400 file in a private
    directory named by $CREDENTIALS_DIRECTORY."""
    directory = tmp_path / "credentials"
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / CREDENTIAL_NAME
    path.write_bytes(raw)
    path.chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))
    return path


def test_a_new_database_opens_with_the_credential_and_no_key_file_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential(tmp_path, os.urandom(KEY_FILE_BYTES), monkeypatch)
    config = config_at(tmp_path / "data")
    with_an_answer(config)
    store = open_store(config)
    assert store.count_confirmations() == 1  # read back with the credential's key
    store.close()
    assert not config.store_key_path.exists()
    assert sorted(p.name for p in config.data_dir.iterdir() if "key" in p.name) == []


def test_a_key_file_with_the_same_key_is_accepted_and_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_at(tmp_path / "data")
    with_an_answer(config)  # made with a key file, as before the appliance was installed
    credential(tmp_path, config.store_key_path.read_bytes(), monkeypatch)
    store = open_store(config)
    assert store.count_confirmations() == 1
    store.close()
    config.store_key_path.unlink()  # once sealed, the file beside the data can go
    store = open_store(config)
    assert store.count_confirmations() == 1
    store.close()


def test_a_key_file_with_another_key_is_refused_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_at(tmp_path / "data")
    with_an_answer(config)
    before = config.store_key_path.read_bytes()
    sealed = credential(tmp_path, os.urandom(KEY_FILE_BYTES), monkeypatch)
    with pytest.raises(KeyMismatchError) as refused:
        open_store(config)
    text = str(refused.value)
    assert str(config.store_key_path) in text and str(sealed) in text
    assert "鍵が二つ" in text and "Two store keys" in text
    assert config.store_key_path.read_bytes() == before  # nothing rewritten


def test_a_key_file_beside_a_credential_on_a_new_database_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never data under one key beside a file holding another, even before the first row."""
    config = config_at(tmp_path / "data")
    FieldKeys.create(config.store_key_path)
    credential(tmp_path, os.urandom(KEY_FILE_BYTES), monkeypatch)
    with pytest.raises(KeyMismatchError, match="Two store keys"):
        open_store(config)
    assert not config.database_path.exists()


def test_a_credential_that_is_not_the_databases_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_at(tmp_path / "data")
    with_an_answer(config)
    config.store_key_path.rename(tmp_path / "store.key.backup")
    credential(tmp_path, os.urandom(KEY_FILE_BYTES), monkeypatch)
    with pytest.raises(KeyMismatchError) as refused:
        open_store(config)
    assert "systemd" in str(refused.value) and CREDENTIAL_NAME in str(refused.value)
    assert not config.store_key_path.exists()  # and no key file made beside the data


def test_a_short_credential_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credential(tmp_path, b"\n" * 3, monkeypatch)
    config = config_at(tmp_path / "data")
    with pytest.raises(Exception, match="wrong size"):
        open_store(config)
    assert not config.store_key_path.exists() and not config.database_path.exists()


def test_without_the_credential_the_key_file_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "other-credentials").mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "other-credentials"))
    assert credential_path() is None
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    assert credential_path() is None
    config = config_at(tmp_path / "data")
    with_an_answer(config)
    assert config.store_key_path.exists()


def test_the_onshi_command_refuses_two_keys_with_exit_78(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `onshi-admin` runs it under systemd: the command, its settings from the environment,
    the credential in $CREDENTIALS_DIRECTORY."""
    onshi = Path(sys.executable).parent / "onshi"
    sealed = credential(tmp_path, os.urandom(KEY_FILE_BYTES), monkeypatch)
    environ = {**os.environ, "ONSHI_DATA_DIR": str(tmp_path / "data")}
    environ.pop("ONSHI_CONFIG", None)
    create = [str(onshi), "admin", "create-user", "kanri", "--name", "管理者", "--role", "admin"]
    made = subprocess.run(
        [*create, "--password-stdin"],
        input="a long enough passphrase 1\n",
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert not (tmp_path / "data" / "store.key").exists()  # the credential's key, no file
    FieldKeys.create(tmp_path / "data" / "store.key")  # someone copies another key beside it
    verify = subprocess.run(
        [str(onshi), "audit", "verify"], env=environ, capture_output=True, text=True, check=False
    )
    assert verify.returncode == 78
    assert "Two store keys" in verify.stderr and str(sealed) in verify.stderr
