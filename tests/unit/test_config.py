from __future__ import annotations

import logging
from pathlib import Path

import pytest

from device.config import (
    LOCKED_SOURCES,
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
from device.settings import SETTINGS, SETTINGS_BY_NAME, Setting


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
        "backup_dir",
        "backup_passphrase_file",
        "demo",
        "demo_data",
        "central_url",
        "central_mode",
        "terminal_root",
        "central_ca",
        "device_cert",
        "device_key",
        "jpki_root_file",
        "export_dir",
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


# -- types and ranges: one validation for the file, the environment and the admin page -------
NUMBERS = [s for s in SETTINGS if s.kind in (int, float)]


def test_every_number_declares_its_range() -> None:
    for setting in NUMBERS:
        assert setting.minimum is not None and setting.maximum is not None, setting.name
        assert 0 <= setting.minimum <= setting.default <= setting.maximum, setting.name


@pytest.mark.parametrize("setting", NUMBERS, ids=lambda s: s.name)
@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1"])
def test_numbers_refuse_nan_infinities_and_negatives(setting: Setting, raw: str) -> None:
    with pytest.raises(ValueError, match="finite|between|integer"):
        parse_setting(setting, raw)
    with pytest.raises(ConfigError, match=setting.name):
        load_config(environ={"ONSHI_" + setting.name.upper(): raw})


@pytest.mark.parametrize("setting", NUMBERS, ids=lambda s: s.name)
def test_numbers_refuse_values_past_their_maximum(setting: Setting) -> None:
    assert setting.maximum is not None
    parse_setting(setting, str(int(setting.maximum)))  # the maximum itself is fine
    for raw in (str(int(setting.maximum) + 1), "1e308", str(10**15)):
        with pytest.raises(ValueError, match="between|integer"):
            parse_setting(setting, raw)


def test_float_values_in_the_file_are_checked_too(tmp_path: Path) -> None:
    file = tmp_path / "onshi.toml"
    for text in ("central_timeout_s = inf", "pin_timeout_s = nan", "kiosk_reset_s = -1.0"):
        file.write_text(text)
        with pytest.raises(ConfigError, match="finite|between"):
            load_config(file, environ={})


@pytest.mark.parametrize(
    ("toml", "reason"),
    [
        ("data_dir = true", "must be a path"),  # no true as a path
        ("key_file = 5", "must be a path"),
        ("staff_port = 8080.5", "must be an integer"),
        ("staff_port = 8080.0", "must be an integer"),  # a TOML float is not a port
        ("retention_days = true", "must be an integer"),
        ("reader = 5", "must be text"),
        ("medical_institution_code = 1312345670", "must be text"),  # leading zeros would go
        ("demo = 1", "true or false"),
        ('language = ["ja"]', "got an array"),
        ("staff_port = { port = 8080 }", "got a table"),
        ("central_url = 2026-01-01", "got a date"),
        ('reader = "SONY\\u0000x"', "control characters"),
        (f'reader = "{"x" * 5000}"', "at most 4096"),
    ],
)
def test_types_in_the_file_are_strict(tmp_path: Path, toml: str, reason: str) -> None:
    file = tmp_path / "onshi.toml"
    file.write_text(toml + "\n")
    with pytest.raises(ConfigError, match=reason) as info:
        load_config(file, environ={})
    assert len(str(info.value)) < 400  # the value is quoted short, not echoed whole


@pytest.mark.parametrize("raw", ["8080.5", "8_080", "٨٠٨٠", "８０８０", "0x1f90", "", " "])
def test_integers_in_text_are_plain_ascii_digits(raw: str) -> None:
    with pytest.raises(ValueError, match="integer"):
        parse_setting(SETTINGS_BY_NAME["staff_port"], raw)
    assert parse_setting(SETTINGS_BY_NAME["staff_port"], " 8080 ") == 8080


def test_numbers_as_typed_still_work() -> None:
    timeout = SETTINGS_BY_NAME["central_timeout_s"]
    assert parse_setting(timeout, "2.5") == 2.5
    assert parse_setting(timeout, "3e1") == 30.0
    assert parse_setting(timeout, 10) == 10.0  # TOML integer for a float setting
    with pytest.raises(ValueError, match="between"):
        parse_setting(timeout, "0")
    assert load_config(environ={"ONSHI_RETENTION_DAYS": "62"}).retention_days == 62


def test_a_misspelled_environment_variable_is_an_error_that_names_the_setting() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ={"ONSHI_RETENTON_DAYS": "1", "ONSHI_FROBNICATE": "x"})
    message = str(info.value)
    assert "ONSHI_RETENTON_DAYS" in message and "did you mean ONSHI_RETENTION_DAYS" in message
    assert "ONSHI_FROBNICATE: 未知の環境変数 / unknown environment variable" in message
    with pytest.raises(ConfigError, match="did you mean ONSHI_READER"):
        load_config(environ={"onshi_reader": "SONY"})  # read by nobody: names are upper case


def test_other_onshi_variables_and_the_rest_of_the_environment_are_fine() -> None:
    environ = {
        "ONSHI_CONFIG": "/etc/onshi/onshi.toml",
        "ONSHI_SIM_DATA": ".demo",
        "PATH": "/usr/bin",
        "HOME": "/root",
    }
    assert load_config(environ=environ).reader == ""


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "onshi.toml"
    file.write_bytes('reader = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"not UTF-8 \(byte 13\): save it as UTF-8"):
        load_config(file, environ={})
    file.write_bytes(b"\xef\xbb\xbf" + b'reader = "SONY"\n')  # a BOM from a Windows editor
    assert load_config(file, environ={}).reader == "SONY"


def test_absurd_nesting_in_the_file_is_a_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "onshi.toml"
    file.write_text("reader = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nests arrays or tables too deeply"):
        load_config(file, environ={})
    file.write_text("[a.b.c.d]\ne = 1\n")  # tables where a value belongs: unknown setting
    with pytest.raises(ConfigError, match="a: 未知の設定 / unknown setting"):
        load_config(file, environ={})


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    file = tmp_path / "onshi.toml"
    file.write_text("# " + "x" * 2_000_000 + "\n")
    with pytest.raises(ConfigError, match="larger than 1024 KiB"):
        load_config(file, environ={})


def test_a_stored_nan_from_an_older_version_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="device.config"):
        config = load_config(environ={}, stored={"retention_days": "nan", "pin_timeout_s": "inf"})
    assert config.retention_days == 31 and config.pin_timeout_s == 90.0
    assert "stored setting pin_timeout_s ignored" in caplog.text
