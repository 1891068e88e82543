"""Reader errors under one root; every message is Japanese first, then English."""

from __future__ import annotations

from reader.apdu import ApduError, describe_sw, hex_bytes


class ReaderError(Exception):
    """Root of every card/reader failure. `ja` and `en` hold the two texts."""

    def __init__(
        self,
        ja: str = "カードリーダーでエラーが発生しました",
        en: str = "card reader error",
    ) -> None:
        self.ja = ja
        self.en = en
        # Not super(): CardError also derives from ApduError, whose __init__ takes a status word.
        Exception.__init__(self, f"{ja} / {en}")

    def __str__(self) -> str:
        return f"{self.ja} / {self.en}"


class CardRemoved(ReaderError):
    def __init__(self) -> None:
        super().__init__("カードが取り外されました", "card removed")


class WrongPin(ReaderError):
    def __init__(self, tries_left: int) -> None:
        self.tries_left = tries_left
        super().__init__(
            f"暗証番号が違います（残り{tries_left}回）",
            f"wrong PIN, {tries_left} tries left",
        )


class PinBlocked(ReaderError):
    def __init__(self) -> None:
        super().__init__(
            "暗証番号がロックされています（解除は市区町村の窓口で）",
            "PIN is blocked (only the municipal office can unlock it)",
        )


class PinFormatError(ReaderError):
    """The local 4-digit check failed; the card was not asked, so no try was spent."""

    def __init__(self) -> None:
        super().__init__("暗証番号は数字4桁です", "the PIN must be exactly 4 digits")


class NotAJpkiCard(ReaderError):
    def __init__(self) -> None:
        super().__init__(
            "公的個人認証（マイナンバーカード）ではありません",
            "not a JPKI (My Number) card",
        )


class ForbiddenApdu(ReaderError):
    """The guard refused a command before it reached the card."""

    def __init__(self, apdu: bytes, reason: str = "") -> None:
        self.apdu = apdu
        self.reason = reason or f"header {hex_bytes(apdu[:4]) or '(empty)'}"
        super().__init__(
            f"許可されていないカード操作を拒否しました: {self.reason}",
            f"refused a forbidden card command: {self.reason}",
        )


class NoReader(ReaderError):
    def __init__(self, reader: str = "") -> None:
        self.reader = reader
        name = f": {reader}" if reader else ""
        super().__init__(f"カードリーダーが見つかりません{name}", f"card reader not found{name}")


class ReaderUnavailable(ReaderError):
    """pcscd (the PC/SC service) is not reachable: it stopped, crashed or restarted
    (SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED, ...). Not a removed card: the card may well
    still be on the reader, and the reader monitor re-creates its context by itself."""

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"カードリーダーのサービス(pcscd)に接続できません{extra}",
            f"the PC/SC service (pcscd) is not reachable{extra}",
        )


class CardError(ReaderError, ApduError):
    """The card answered with a status word the session did not expect."""

    def __init__(self, sw: int, data: bytes = b"", detail: str = "") -> None:
        self.sw = sw
        self.data = data
        self.detail = detail
        what = detail or describe_sw(sw)
        ReaderError.__init__(
            self, f"カードがエラーを返しました: {what}", f"the card returned an error: {what}"
        )
