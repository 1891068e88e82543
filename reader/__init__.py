"""Card I/O: APDUs, the guarded connection, the JPKI session and (in reader.pcsc) PC/SC.

reader.pcsc is not imported here so that protocol code and its tests never load pyscard."""

from reader.apdu import Apdu, ApduError, StatusWord, describe_sw
from reader.connection import CardConnection, TimedConnection
from reader.errors import (
    CardError,
    CardRemoved,
    ForbiddenApdu,
    NoReader,
    NotAJpkiCard,
    PinBlocked,
    PinFormatError,
    ReaderError,
    ReaderUnavailable,
    WrongPin,
)
from reader.events import CardInserted, CardRemovedEvent, PcscDown, PcscUp, ReaderEvent
from reader.guard import GuardedConnection
from reader.jpki import JpkiSession, digest_info_sha256

__all__ = [
    "Apdu",
    "ApduError",
    "CardConnection",
    "CardError",
    "CardInserted",
    "CardRemoved",
    "CardRemovedEvent",
    "ForbiddenApdu",
    "GuardedConnection",
    "JpkiSession",
    "NoReader",
    "NotAJpkiCard",
    "PcscDown",
    "PcscUp",
    "PinBlocked",
    "PinFormatError",
    "ReaderError",
    "ReaderEvent",
    "ReaderUnavailable",
    "StatusWord",
    "TimedConnection",
    "WrongPin",
    "describe_sw",
    "digest_info_sha256",
]
