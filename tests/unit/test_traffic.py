import logging

import pytest

from reader.traffic import (
    COMMAND,
    RESPONSE,
    TRAFFIC,
    enable_traffic_logging,
    format_traffic,
    log_traffic,
)


@pytest.fixture
def traffic_logger() -> logging.Logger:
    logger = logging.getLogger("test.reader.traffic")
    logger.setLevel(logging.NOTSET)
    return logger


def test_level_is_below_debug_and_named() -> None:
    assert TRAFFIC < logging.DEBUG
    assert logging.getLevelName(TRAFFIC) == "TRAFFIC"


def test_verify_pin_is_masked(
    caplog: pytest.LogCaptureFixture, traffic_logger: logging.Logger
) -> None:
    caplog.set_level(TRAFFIC, logger=traffic_logger.name)
    log_traffic(traffic_logger, COMMAND, bytes.fromhex("0020008004") + b"4931")
    assert caplog.messages == [">> 00 20 00 80 04 ** ** ** **"]
    text = caplog.text
    assert "4931" not in text
    assert "34 39 33 31" not in text


def test_mislabelled_direction_still_masks() -> None:
    assert format_traffic("to card", bytes.fromhex("0020008004") + b"1234") == (
        "to card 00 20 00 80 04 ** ** ** **"
    )


def test_other_traffic_is_plain_hex(
    caplog: pytest.LogCaptureFixture, traffic_logger: logging.Logger
) -> None:
    caplog.set_level(TRAFFIC, logger=traffic_logger.name)
    log_traffic(traffic_logger, COMMAND, bytes.fromhex("0020 0080"))
    log_traffic(traffic_logger, COMMAND, bytes.fromhex("00B0000000"))
    log_traffic(traffic_logger, RESPONSE, bytes.fromhex("3020 9000"))
    assert caplog.messages == [">> 00 20 00 80", ">> 00 B0 00 00 00", "<< 30 20 90 00"]
    assert all(r.levelno == TRAFFIC for r in caplog.records)


def test_nothing_logged_at_debug(
    caplog: pytest.LogCaptureFixture, traffic_logger: logging.Logger
) -> None:
    caplog.set_level(logging.DEBUG, logger=traffic_logger.name)
    log_traffic(traffic_logger, COMMAND, bytes.fromhex("00B0000000"))
    assert caplog.records == []


def test_enable_warns(caplog: pytest.LogCaptureFixture, traffic_logger: logging.Logger) -> None:
    caplog.set_level(logging.WARNING, logger=traffic_logger.name)
    enable_traffic_logging(traffic_logger)
    assert traffic_logger.level == TRAFFIC
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "card traffic is being logged" in warnings[0].getMessage()
