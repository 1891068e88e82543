"""Field encryption for personal data at rest, and keyed hashes for looking it up.

AES-256-GCM with a random 96-bit nonce per value; the associated data binds a ciphertext to
its table, column and row so a value copied into another row does not decrypt.
Blind indexes are HMAC-SHA256 of a normalised value with a second key, so equality search
works without storing the value; the store keeps the first TAG_BYTES bytes of each as a BLOB
(`blind_tag`), the form migration 24 cut the earlier hex digests to (`tag_of_stored`).

The key file also keys the audit chain and the database's key check: both use keys derived from
the file's 64 bytes with HKDF (one purpose each), so the one secret kept outside the database
(a systemd credential on the appliance) protects all three, and one backup of it restores them.
The file is never created here by accident: `load` refuses a missing file and `create` refuses
an existing one; only the caller that knows the database is new and empty may create it.
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
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_FILE_BYTES = 64  # 32 for AES-GCM, 32 for HMAC
NONCE_BYTES = 12
KEY_CHECK_LABEL = b"onshi-edge store key check v1"
# Bytes of a blind index the store keeps (of HMAC-SHA256's 32). 128 bits: a look-up matches
# another person's row only when two different values share a tag; with n values indexed under
# one purpose the chance that any two do is about n^2 / 2^129, 10^-26 for the 10^6 rows of
# decades of a clinic (a tag that is UNIQUE, an appointment's patient, is as safe). Nothing is
# gained against guessing either way: a tag is only computed with the index key. Each look-up
# compares the whole stored tag (SQL equality), never a prefix of it.
TAG_BYTES = 16


class KeyFileError(Exception):
    """The key file is missing, unreadable, too open or of the wrong size."""


class KeyMismatchError(KeyFileError):
    """The key does not open this database: its key check or an encrypted row says so."""


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
    def load(cls, path: Path) -> FieldKeys:
        """Read the key file; KeyFileError when it is missing, too open or the wrong size."""
        try:
            mode = path.stat().st_mode
            if mode & 0o077:
                raise KeyFileError(
                    f"鍵ファイルの権限が広すぎます / key file {path} must not be readable by "
                    "others (chmod 600)"
                )
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise KeyFileError(f"鍵ファイルがありません / no key file at {path}") from exc
        except OSError as exc:
            raise KeyFileError(
                f"鍵ファイルを読めません / cannot read the key file {path}: {exc.strerror}"
            ) from exc
        if len(raw) != KEY_FILE_BYTES:
            raise KeyFileError(f"鍵ファイルが壊れています / key file {path} has the wrong size")
        return cls(raw[:32], raw[32:])

    @classmethod
    def create(cls, path: Path) -> FieldKeys:
        """A new key file (0600, in a 0700 directory it makes) whatever the umask; never
        overwrites one (FileExistsError). Only for a new, empty database."""
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True)
            os.chmod(path.parent, 0o700)
        keys = cls.generate()
        # Written whole under a temporary name, then linked into place: a crash or a kill never
        # leaves a short key file, and link() refuses an existing one (no overwrite).
        partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(keys.encryption + keys.index)
                f.flush()
                os.fsync(f.fileno())
            os.link(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return keys

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose ("audit-chain", "key-check"), from the whole file."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"onshi-edge " + purpose.encode()
        ).derive(self.encryption + self.index)


def normalize(value: str) -> str:
    """The form compared by blind indexes: NFKC, no spaces, upper case."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def tag_of_stored(stored: str | bytes | None) -> str | bytes | None:
    """A look-up column's value as migration 24 keeps it: a hex blind index (64 digits, as
    stored before) becomes its tag (`FieldCipher.blind_tag` of the same value), "" (no value)
    the empty BLOB; a tag already cut, or anything else, is kept as it is (the migration can
    run over rows it has converted)."""
    if stored == "":
        return b""
    if isinstance(stored, str) and len(stored) == 64:
        try:
            return bytes.fromhex(stored)[:TAG_BYTES]
        except ValueError:
            return stored
    return stored


class FieldCipher:
    def __init__(self, keys: FieldKeys) -> None:
        self._aead = AESGCM(keys.encryption)
        self._index_key = keys.index
        self._audit_key = keys.derive("audit-chain")
        self._check_key = keys.derive("key-check")

    def encrypt(self, plaintext: bytes, binding: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, binding.encode())

    def decrypt(self, blob: bytes, binding: str) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], binding.encode())
        except (InvalidTag, ValueError) as exc:
            raise DecryptError(f"cannot decrypt value bound to {binding}") from exc

    def _digest(self, purpose: str, value: str) -> bytes:
        message = purpose.encode() + b"\x00" + normalize(value).encode()
        return hmac.new(self._index_key, message, hashlib.sha256).digest()

    def blind_index(self, purpose: str, value: str) -> str:
        """Keyed hash of a normalised value, whole and in hex (the keys of aid tickets and of
        照会番号 registrations, which bind encrypted answers or are few); the purpose keeps
        indexes of different fields apart."""
        return self._digest(purpose, value).hex()

    def blind_tag(self, purpose: str, value: str) -> bytes:
        """The blind index as the store keeps it in its look-up columns: its first TAG_BYTES
        bytes (the same bytes as the start of `blind_index`)."""
        return self._digest(purpose, value)[:TAG_BYTES]

    @property
    def audit_key(self) -> bytes:
        """The key of the audit chain's HMACs (sync.auditchain), apart from the database."""
        return self._audit_key

    def key_check(self) -> str:
        """What the database keeps to recognise its key: an HMAC of a fixed label. It says
        nothing about the key, and a different key gives a different value."""
        return hmac.new(self._check_key, KEY_CHECK_LABEL, hashlib.sha256).hexdigest()

    def is_key_check(self, stored: str) -> bool:
        return hmac.compare_digest(self.key_check(), stored)
