"""The backup file's format: a passphrase-keyed header, then AES-256-GCM chunks.

A header (magic, format version, the scrypt parameters and salt, a check value of the
passphrase, the chunk size, when and from which schema) authenticated as the associated data of
every chunk; then the payload in chunks of CHUNK bytes, each with its own nonce (its index and
whether it is the last), so a 1 GB store needs neither 1 GB of memory to write nor to read, and a
file cut short, reordered or altered anywhere is refused. The check value tells a wrong passphrase
from a damaged file. What the payload holds and how backups are written and restored is
device/backup.py's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"ONSHIBAK"
FORMAT_VERSION = 1
TAG = 16
HEADER_MAX = 4096
PASSPHRASE_MIN = 12
CHECK_LABEL = b"onshi-edge backup passphrase check v1"
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class KdfParams:
    """scrypt's cost: n=2^16, r=8 takes 64 MiB and about half a second on a Pi 4."""

    n: int = 2**16
    r: int = 8
    p: int = 1

    def valid(self) -> bool:
        # Bounds on what a file may ask for: a forged header must not take a gigabyte.
        return (
            2**14 <= self.n <= 2**18
            and self.n & (self.n - 1) == 0
            and 1 <= self.r <= 16
            and 128 * self.n * self.r <= 256 * 2**20  # scrypt's memory
            and 1 <= self.p <= 4
        )


DEFAULT_KDF = KdfParams()


class BackupError(Exception):
    """A backup or restore refused; the message (ja / en) says what to do next."""


class PassphraseError(BackupError):
    """No passphrase, or one too short for a new backup."""


class WrongPassphrase(BackupError):
    """The passphrase is not the backup's: nothing was written."""


class BackupUnreadable(BackupError):
    """Not a backup of this format, or cut short, altered or damaged."""


@dataclass(frozen=True)
class Header:
    raw: bytes  # as in the file: the associated data of every chunk
    kdf: KdfParams
    salt: bytes
    check: str
    chunk: int
    created_at: str
    schema_version: int


# -- passphrases ------------------------------------------------------------------------------
def normalized_passphrase(text: str) -> bytes:
    """NFC, one trailing newline dropped: the same words typed on another keyboard or kept in a
    file with a newline give the same key."""
    return unicodedata.normalize("NFC", text.removesuffix("\n").removesuffix("\r")).encode()


def check_new_passphrase(text: str) -> None:
    if len(text.strip()) < PASSPHRASE_MIN:
        raise PassphraseError(
            f"パスフレーズは {PASSPHRASE_MIN} 文字以上にしてください / the passphrase must have "
            f"at least {PASSPHRASE_MIN} characters"
        )


def read_passphrase_file(path: Path) -> str:
    """The passphrase kept in `path` (a systemd credential on the appliance); never logged."""
    if str(path) in ("", "."):
        raise PassphraseError(
            "backup_passphrase_file が設定されていません（夜間バックアップのパスフレーズの"
            "ファイル） / backup_passphrase_file is not set: the nightly backup has no passphrase"
        )
    try:
        if path.stat().st_mode & 0o077:
            raise PassphraseError(
                f"パスフレーズのファイルの権限が広すぎます (chmod 600) / the passphrase file "
                f"{path} must not be readable by others (chmod 600)"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PassphraseError(
            f"パスフレーズのファイルがありません / no passphrase file at {path}"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PassphraseError(
            f"パスフレーズのファイルを読めません / cannot read the passphrase file {path}"
        ) from exc
    return text.splitlines()[0] if text.strip() else ""


def derive_key(passphrase: str, salt: bytes, kdf: KdfParams) -> tuple[bytes, str]:
    """The AES key and the check value of a passphrase."""
    out = Scrypt(salt=salt, length=64, n=kdf.n, r=kdf.r, p=kdf.p).derive(
        normalized_passphrase(passphrase)
    )
    check = hmac.new(out[32:], CHECK_LABEL, hashlib.sha256).hexdigest()[:32]
    return out[:32], check


# -- the file -------------------------------------------------------------------------------
def header_bytes(fields: dict[str, object]) -> bytes:
    body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return MAGIC + struct.pack(">BI", FORMAT_VERSION, len(body)) + body


def read_header(file: BinaryIO) -> Header:
    """The header of a backup file; BackupUnreadable when it is not one this version reads."""
    start = file.read(len(MAGIC) + 5)
    if len(start) < len(MAGIC) + 5 or not start.startswith(MAGIC):
        raise BackupUnreadable(
            "onshi のバックアップファイルではありません / this is not an onshi backup file"
        )
    version, length = struct.unpack(">BI", start[len(MAGIC) :])
    if version != FORMAT_VERSION:
        raise BackupUnreadable(
            f"この版では読めない形式です (形式 {version}) / backup format {version} is not "
            "readable by this version of onshi"
        )
    if length > HEADER_MAX:
        raise BackupUnreadable(DAMAGED)
    body = file.read(length)
    try:
        fields = json.loads(body)
        kdf = KdfParams(int(fields["n"]), int(fields["r"]), int(fields["p"]))
        header = Header(
            raw=start + body,
            kdf=kdf,
            salt=bytes.fromhex(fields["salt"]),
            check=str(fields["check"]),
            chunk=int(fields["chunk"]),
            created_at=str(fields["created_at"]),
            schema_version=int(fields["schema_version"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupUnreadable(DAMAGED) from exc
    if fields.get("kdf") != "scrypt" or not kdf.valid() or not 1024 <= header.chunk <= 2**24:
        raise BackupUnreadable(DAMAGED)
    return header


DAMAGED = (
    "バックアップファイルが壊れているか、途中で切れているか、書き換えられています。"
    "別の世代のバックアップを使ってください / the backup file is damaged, cut short or altered: "
    "use another generation"
)


def chunk_nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class Sealer:
    """Plaintext in, chunks out: every chunk but the last is full, the last is shorter (maybe
    empty), so a reader knows the end without trusting anything unauthenticated."""

    def __init__(self, out: BinaryIO, key: bytes, aad: bytes, chunk: int) -> None:
        self._out, self._aead, self._aad, self._chunk = out, AESGCM(key), aad, chunk
        self._buffer = bytearray()
        self._index = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) > self._chunk:  # keep a full one back: it may be the last
            self._emit(bytes(self._buffer[: self._chunk]), last=False)
            del self._buffer[: self._chunk]

    def close(self) -> None:
        if len(self._buffer) == self._chunk:
            self._emit(bytes(self._buffer), last=False)
            self._buffer.clear()
        self._emit(bytes(self._buffer), last=True)

    def _emit(self, plain: bytes, *, last: bool) -> None:
        self._out.write(self._aead.encrypt(chunk_nonce(self._index, last), plain, self._aad))
        self._index += 1


class Opener:
    """Chunks in, plaintext out; BackupUnreadable at the first chunk that does not hold."""

    def __init__(self, file: BinaryIO, key: bytes, header: Header) -> None:
        self._file, self._aead, self._header = file, AESGCM(key), header
        self._index = 0
        self._done = False
        self._buffer = b""

    def read_exactly(self, size: int) -> bytes:
        parts = [self._buffer[:size]]
        have = len(parts[0])
        self._buffer = self._buffer[size:]
        while have < size:
            chunk = self._next()
            take = chunk[: size - have]
            parts.append(take)
            have += len(take)
            self._buffer = chunk[len(take) :]
        return b"".join(parts)

    def finish(self) -> None:
        """The rest must be nothing but the last chunk, and then the end of the file."""
        if self._buffer:
            raise BackupUnreadable(DAMAGED)
        while not self._done:
            if self._next():
                raise BackupUnreadable(DAMAGED)

    def _next(self) -> bytes:
        if self._done:
            raise BackupUnreadable(DAMAGED)  # the manifest promised more than there is
        size = self._header.chunk + TAG
        block = self._file.read(size)
        last = len(block) < size
        if len(block) < TAG:
            raise BackupUnreadable(DAMAGED)
        try:
            plain = self._aead.decrypt(chunk_nonce(self._index, last), block, self._header.raw)
        except InvalidTag as exc:
            raise BackupUnreadable(DAMAGED) from exc
        self._index += 1
        if last:
            if self._file.read(1):
                raise BackupUnreadable(DAMAGED)
            self._done = True
        return plain
