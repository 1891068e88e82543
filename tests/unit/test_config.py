from __future__ import annotations

from pathlib import Path

import pytest

from device.config import SETTINGS, ConfigError, load_config


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
