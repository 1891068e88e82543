"""The store key as a systemd credential: the appliance's unit hands it over sealed
(LoadCredentialEncrypted=store-key:...), systemd decrypts it into $CREDENTIALS_DIRECTORY/store-key
for this process only, and nothing of it lies beside the data it opens.

Without a credential the key file (key_file, default <data_dir>/store.key) is used as before —
development, the demo and the tests. With both, they must be the same key: two different keys
mean one of them belongs to another database, and no guess is made (KeyMismatchError, exit 78).
A credential is never written out as a key file, and no key file is made beside it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from device.config import Config
from sync.fieldcrypt import FieldKeys, KeyFileError, KeyMismatchError

CREDENTIAL_NAME = "store-key"  # the name in onshi.service's LoadCredentialEncrypted=
# where `make install` seals it
SEALED_CREDENTIAL = Path("/etc/credstore.encrypted/onshi-store-key")


def credential_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """$CREDENTIALS_DIRECTORY/store-key when systemd handed this process one, else None."""
    directory = (os.environ if environ is None else environ).get("CREDENTIALS_DIRECTORY", "")
    if not directory:
        return None
    path = Path(directory) / CREDENTIAL_NAME
    return path if path.exists() else None


def credential_keys(config: Config, environ: Mapping[str, str] | None = None) -> FieldKeys | None:
    """The credential's keys, or None without one. Refuses (KeyMismatchError) when a key file
    beside the data holds another key; the same key in both is accepted."""
    credential = credential_path(environ)
    if credential is None:
        return None
    keys = FieldKeys.load(credential)
    key_file = config.store_key_path
    if key_file.exists():
        try:
            other = FieldKeys.load(key_file)
        except KeyFileError as exc:
            raise KeyMismatchError(two_keys_message(config, credential)) from exc
        if not hmac.compare_digest(keys.encryption + keys.index, other.encryption + other.index):
            raise KeyMismatchError(two_keys_message(config, credential))
    return keys


def two_keys_message(config: Config, credential: Path) -> str:
    key, db = config.store_key_path, config.database_path
    return (
        f"保存データの鍵が二つあります: systemd の資格情報 {CREDENTIAL_NAME} と鍵ファイル {key} が"
        f"異なります。どちらか一方はデータベース {db} の鍵ではありません。起動を中止しました。"
        "このデータベースを作った鍵を資格情報として封印し直し（docs/install.md「保存データの鍵」）、"
        "鍵ファイルはバックアップを取ってから消してください。\n"
        f"Two store keys: the systemd credential {CREDENTIAL_NAME} ({credential}) and the key file "
        f"{key} differ, so one of them is not the key of the database {db}. The appliance did not "
        "start. Seal the key this database was made with as the credential (docs/install.md, "
        '"Store key"), then back up and remove the key file.'
    )


def credential_wrong_message(config: Config) -> str:
    db = config.database_path
    return (
        f"systemd の資格情報 {CREDENTIAL_NAME}（{SEALED_CREDENTIAL}）はデータベース {db} の鍵では"
        "ありません（鍵の確認値が一致しません）。このデータベースの鍵を封印し直すか、"
        "バックアップから戻してください（docs/install.md「保存データの鍵」）。起動を中止しました。\n"
        f"The systemd credential {CREDENTIAL_NAME} ({SEALED_CREDENTIAL}) is not the key of the "
        f"database {db} (its key check does not match). Seal this database's key again or restore "
        'it from the backup (docs/install.md, "Store key"). The appliance did not start.'
    )
