"""Field encryption for personal data at rest, and keyed hashes for looking it up.

AES-256-GCM with a random 96-bit nonce per value; the associated data binds a ciphertext to
its table, column and row so a value copied into another row does not decrypt.
Blind indexes are HMAC-SHA256 of a normalised value with a second key, so equality search
works without storing the value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE_BYTES = 64  # 32 for AES-GCM, 32 for HMAC
NONCE_BYTES = 12


class KeyFileError(Exception):
    """The key file is missing, unreadable, too open or of the wrong size."""


class DecryptError(Exception):
    """A stored value does not decrypt with this key and row binding (tampered or moved)."""


@dataclass(frozen=True)
class FieldKeys:
    encryption: bytes
    index: bytes

    @classmethod
    def generate(cls) -> FieldKeys:
        raw = secrets.token_bytes(KEY_FILE_BYTES)
        return cls(raw[:32], raw[32:])

    @classmethod
    def load_or_create(cls, path: Path) -> FieldKeys:
        """Read the key file; create it (0600) when absent. Never widen its permissions."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            keys = cls.generate()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(keys.encryption + keys.index)
                f.flush()
                os.fsync(f.fileno())
            return keys
        if path.stat().st_mode & 0o077:
            raise KeyFileError(
                f"鍵ファイルの権限が広すぎます / key file {path} must not be readable by others "
                "(chmod 600)"
            )
        raw = path.read_bytes()
        if len(raw) != KEY_FILE_BYTES:
            raise KeyFileError(f"鍵ファイルが壊れています / key file {path} has the wrong size")
        return cls(raw[:32], raw[32:])


def normalize(value: str) -> str:
    """The form compared by blind indexes: NFKC, no spaces, upper case."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


class FieldCipher:
    def __init__(self, keys: FieldKeys) -> None:
        self._aead = AESGCM(keys.encryption)
        self._index_key = keys.index

    def encrypt(self, plaintext: bytes, binding: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, binding.encode())

    def decrypt(self, blob: bytes, binding: str) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], binding.encode())
        except (InvalidTag, ValueError) as exc:
            raise DecryptError(f"cannot decrypt value bound to {binding}") from exc

    def blind_index(self, purpose: str, value: str) -> str:
        """Keyed hash of a normalised value; the purpose keeps indexes of different fields apart."""
        message = purpose.encode() + b"\x00" + normalize(value).encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()
