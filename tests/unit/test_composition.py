"""The composition root: web-free parts apart from the one module that assembles the pages,
and the reader backend chosen by one setting."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from device.config import ConfigError, load_config
from device.parts import reader_backend
from device.settings import SETTINGS_BY_NAME
from reader.backend import BACKENDS, CardReaders, ReaderWatch, load_backend
from reader.connection import CardConnection
from reader.events import ReaderEvent

ROOT = Path(__file__).resolve().parents[2]


def loaded_after(imports: str) -> set[str]:
    """Top-level modules loaded by a fresh interpreter after `imports`."""
    code = (
        f"import sys\n{imports}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_commands_that_serve_no_pages_do_not_load_the_web() -> None:
    # `onshi card info/check`, `admin create-user`, `audit verify` and `settings` build from
    # these modules only.
    loaded = loaded_after(
        "import device.cli, device.parts, device.technician, device.confirm, device.checks"
    )
    assert "device" in loaded
    assert not {"flask", "werkzeug", "jinja2", "web"} & loaded
    assert "smartcard" not in loaded  # pyscard only once the PC/SC backend is chosen


def test_the_assembling_module_is_the_one_that_loads_the_web() -> None:
    assert {"flask", "web"} <= loaded_after("import device.appliance")


class DoubleReaders:
    def list_readers(self) -> list[str]:
        return ["double 0"]

    def card_present(self, reader: str) -> bool:
        return False

    def connect(self, reader: str) -> CardConnection:
        raise AssertionError("no card in a double")

    def close(self) -> None:
        pass


class DoubleWatch:
    def __init__(self, on_event: Callable[[ReaderEvent], None], reader_filter: str) -> None:
        self.on_event, self.reader_filter = on_event, reader_filter

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class DoubleBackend:
    def open_readers(self) -> CardReaders:
        return DoubleReaders()

    def watch(self, on_event: Callable[[ReaderEvent], None], reader_filter: str) -> ReaderWatch:
        return DoubleWatch(on_event, reader_filter)


def backend() -> DoubleBackend:
    """This module as a reader backend: what a second kind of reader provides."""
    return DoubleBackend()


def test_pcsc_is_the_default_and_the_only_kind_accepted_today(tmp_path: Path) -> None:
    setting = SETTINGS_BY_NAME["reader_backend"]
    assert setting.default == "pcsc" and setting.range_text == "pcsc"
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path)})
    assert config.reader_backend == "pcsc"
    with pytest.raises(ConfigError, match="reader_backend"):
        load_config(environ={"ONSHI_READER_BACKEND": "nfc"}, overrides={"data_dir": str(tmp_path)})


def test_the_pcsc_backend_is_found_by_its_name() -> None:
    from reader.pcsc import PcscBackend

    assert isinstance(load_backend("pcsc"), PcscBackend)


def test_a_second_kind_is_one_module_and_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BACKENDS, "double", __name__)
    config = load_config(
        environ={"ONSHI_READER_BACKEND": "double"}, overrides={"data_dir": str(tmp_path)}
    )
    chosen = reader_backend(config)
    assert isinstance(chosen, DoubleBackend)
    assert chosen.open_readers().list_readers() == ["double 0"]
