"""Card traffic logging at its own level, below DEBUG, with PIN bytes always masked."""

from __future__ import annotations

import logging

from reader.apdu import INS_VERIFY, hex_bytes

TRAFFIC = 5
logging.addLevelName(TRAFFIC, "TRAFFIC")

COMMAND = ">>"
RESPONSE = "<<"


def format_traffic(direction: str, raw: bytes) -> str:
    """Hex for the log. Anything not labelled a response is treated as a command, so a
    mislabelled VERIFY is still masked."""
    if direction != RESPONSE and len(raw) > 5 and raw[1] == INS_VERIFY:
        return f"{direction} {hex_bytes(raw[:5])} " + " ".join("**" for _ in raw[5:])
    return f"{direction} {hex_bytes(raw)}"


def log_traffic(logger: logging.Logger, direction: str, raw: bytes) -> None:
    if logger.isEnabledFor(TRAFFIC):
        logger.log(TRAFFIC, "%s", format_traffic(direction, raw))


def enable_traffic_logging(logger: logging.Logger) -> None:
    logger.setLevel(TRAFFIC)
    logger.warning(
        "カード通信をログに記録しています（暗証番号は伏せ字）"
        " / card traffic is being logged (PIN bytes masked)"
    )
