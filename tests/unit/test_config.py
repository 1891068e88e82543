from __future__ import annotations

import logging
from pathlib import Path

import pytest

from device.config import (
    LOCKED_SOURCES,
    SETTINGS,
    SETTINGS_BY_NAME,
    SOURCE_DEFAULT,
    SOURCE_ENVIRONMENT,
    SOURCE_FILE,
    SOURCE_OVERRIDE,
    SOURCE_STORED,
    ConfigError,
    load_config,
    parse_setting,
    stored_setting_problem,
)


def test_defaults_load() -> None:
    config = load_config(environ={})
    assert config.medical_institution_code == "1312345670"
    assert config.store_key_path == config.data_dir / "store.key"


def test_toml_then_environment_override(tmp_path: Path) -> None:
    file = tmp_path / "onshi.toml"
    file.write_text('staff_port = 9000\nreader = "SONY"\ndemo = true\n')
    config = load_config(file, environ={"ONSHI_STAFF_PORT": "9100"})
    assert config.staff_port == 9100
    assert config.reader == "SONY"
    assert config.demo is True


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    file = tmp_path / "onshi.toml"
    file.write_text('medical_institution_code = "12345"\nstaff_port = 70000\nfrobnicate = 1\n')
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={"ONSHI_DEMO": "maybe", "ONSHI_CENTRAL_URL": "http://x"})
    message = str(info.value)
    for name in ("medical_institution_code", "staff_port", "frobnicate", "demo", "central_url"):
        assert name in message


def test_not_toml_is_a_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "onshi.toml"
    file.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="TOML"):
        load_config(file, environ={})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml", environ={})


def test_every_setting_has_help() -> None:
    assert all(s.help.strip() for s in SETTINGS)
    assert len({s.name for s in SETTINGS}) == len(SETTINGS)


def test_unknown_log_level_is_refused() -> None:
    with pytest.raises(ConfigError, match="log_level"):
        load_config(environ={"ONSHI_LOG_LEVEL": "LOUD"})
    assert load_config(environ={"ONSHI_LOG_LEVEL": "TRAFFIC"}).log_level == "TRAFFIC"


# -- layers with the values saved on the admin page -------------------------------------
def test_stored_values_sit_between_the_file_and_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "onshi.toml"
    file.write_text('retention_days = 40\nreader = "SONY"\nlanguage = "en"\n')
    stored = {"retention_days": "62", "reader": "ACS", "pin_timeout_s": "60"}
    config = load_config(file, environ={"ONSHI_READER": "NFC"}, stored=stored)
    assert config.retention_days == 62  # stored over the file
    assert config.reader == "NFC"  # the environment over stored
    assert config.pin_timeout_s == 60.0
    assert config.language == "en"  # file, nothing stored
    assert config.sources["retention_days"] == SOURCE_STORED
    assert config.sources["reader"] == SOURCE_ENVIRONMENT
    assert config.sources["language"] == SOURCE_FILE
    assert config.sources["central_url"] == SOURCE_DEFAULT
    overridden = load_config(file, environ={}, overrides={"retention_days": 1}, stored=stored)
    assert overridden.retention_days == 1
    assert overridden.sources["retention_days"] == SOURCE_OVERRIDE
    assert {SOURCE_ENVIRONMENT, SOURCE_OVERRIDE} == LOCKED_SOURCES


def test_an_invalid_stored_value_is_reported_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "onshi.toml"
    file.write_text("retention_days = 40\n")
    stored = {
        "retention_days": "-3",
        "log_level": "TRAFFIC",  # card traffic is never switched on from a web page
        "medical_institution_code": "12",
        "language": "en",
        "renamed_setting": "x",
    }
    with caplog.at_level(logging.WARNING, logger="device.config"):
        config = load_config(file, environ={}, stored=stored)
    assert config.retention_days == 40 and config.sources["retention_days"] == SOURCE_FILE
    assert config.log_level == "INFO"
    assert config.medical_institution_code == "1312345670"
    assert config.language == "en"
    reported = " ".join(r.getMessage() for r in caplog.records)
    for name in ("retention_days", "log_level", "medical_institution_code", "renamed_setting"):
        assert f"stored setting {name} ignored" in reported
    assert "language" not in reported


def test_non_editable_settings_are_never_taken_from_the_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Where patient data goes and where the staff pages listen are decided on the box itself.
    assert {s.name for s in SETTINGS if not s.editable} == {
        "data_dir",
        "key_file",
        "demo",
        "demo_data",
        "central_url",
        "central_ca",
        "device_cert",
        "device_key",
        "staff_host",
        "staff_port",
        "staff_tls_cert",
        "staff_tls_key",
        "kiosk_port",
    }
    with caplog.at_level(logging.WARNING, logger="device.config"):
        config = load_config(
            environ={}, stored={"data_dir": str(tmp_path / "elsewhere"), "demo": "true"}
        )
    assert config.data_dir == SETTINGS_BY_NAME["data_dir"].default
    assert config.demo is False
    assert stored_setting_problem("demo", "true") is not None
    assert stored_setting_problem("retention_days", "62") is None
    assert "not editable" in caplog.text


def test_parse_setting_is_the_check_load_config_uses() -> None:
    code = SETTINGS_BY_NAME["medical_institution_code"]
    assert parse_setting(code, "1312345670") == "1312345670"
    with pytest.raises(ValueError, match="10 digits"):
        parse_setting(code, "131234567")
    with pytest.raises(ValueError, match="integer"):
        parse_setting(SETTINGS_BY_NAME["staff_port"], "eighty")
    with pytest.raises(ValueError, match="true or false"):
        parse_setting(SETTINGS_BY_NAME["demo"], "perhaps")
    assert parse_setting(SETTINGS_BY_NAME["consent_kinds"], "checkup,drug") == "checkup,drug"
    with pytest.raises(ConfigError, match="staff_port"):
        load_config(environ={"ONSHI_STAFF_PORT": "eighty"})
