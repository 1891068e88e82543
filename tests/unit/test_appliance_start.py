"""device.appliance.start_appliance: a value saved on the admin page never keeps the box down."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from device import appliance as appliance_module
from device import parts as parts_module
from device.appliance import start_appliance
from device.config import Config
from device.parts import load_settings, open_store


class FakeAppliance:
    def __init__(self, config: Config, fail_start: bool = False) -> None:
        self.config = config
        self.fail_start = fail_start
        self.started = self.stopped = False

    def start(self) -> None:
        if self.fail_start:
            raise OSError("address already in use")
        self.started = True

    def stop(self) -> None:
        self.stopped = True


def save(data_dir: Path, name: str, value: str) -> None:
    store = open_store(load_settings(None, environ={}, overrides={"data_dir": data_dir}))
    try:
        store.save_setting(name, value, actor="admin")
    finally:
        store.close()


def test_a_saved_setting_that_breaks_the_start_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    save(tmp_path, "retention_days", "62")
    built: list[FakeAppliance] = []

    def build(config: Config, **_: Any) -> FakeAppliance:
        if config.retention_days == 62:
            raise FileNotFoundError("a file the saved value names is missing")
        built.append(FakeAppliance(config))
        return built[-1]

    monkeypatch.setattr(appliance_module, "build_appliance", build)
    monkeypatch.setattr(parts_module.os, "environ", {})
    with caplog.at_level(logging.ERROR, logger="device.appliance"):
        started = start_appliance(None, overrides={"data_dir": tmp_path})
    assert started is built[0] and built[0].started
    assert built[0].config.retention_days == 31  # the default, not the saved value
    assert "starting without them" in caplog.text


def test_without_saved_settings_the_error_is_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def build(config: Config, **_: Any) -> FakeAppliance:
        raise FileNotFoundError("device certificate missing")

    monkeypatch.setattr(appliance_module, "build_appliance", build)
    monkeypatch.setattr(parts_module.os, "environ", {})
    with pytest.raises(FileNotFoundError):
        start_appliance(None, overrides={"data_dir": tmp_path})


def test_a_half_started_appliance_is_stopped_before_trying_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(tmp_path, "retention_days", "62")
    built: list[FakeAppliance] = []

    def build(config: Config, **_: Any) -> FakeAppliance:
        built.append(FakeAppliance(config, fail_start=config.retention_days == 62))
        return built[-1]

    monkeypatch.setattr(appliance_module, "build_appliance", build)
    monkeypatch.setattr(parts_module.os, "environ", {})
    start_appliance(None, overrides={"data_dir": tmp_path})
    assert built[0].stopped and not built[0].started  # its ports are free again
    assert built[1].started
