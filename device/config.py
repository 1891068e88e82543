"""The appliance's settings as one frozen Config, read and checked (the catalogue of settings
itself is device/settings.py).

Values come from the defaults, then a TOML file, then the values saved on the admin page (kept in
the database), then ONSHI_<NAME> environment variables, then explicit overrides (the demo's).
Each Config remembers where every value came from, so the admin page can show it and lock the
settings that the environment or the command decides.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePath
from typing import Any

from device.settings import SETTINGS, SETTINGS_BY_NAME, Setting, number_text

log = logging.getLogger(__name__)

# Where a value came from (Config.sources); the admin page cannot change the last two.
SOURCE_DEFAULT, SOURCE_FILE, SOURCE_STORED = "default", "file", "stored"
SOURCE_ENVIRONMENT, SOURCE_OVERRIDE = "environment", "override"
LOCKED_SOURCES = frozenset({SOURCE_ENVIRONMENT, SOURCE_OVERRIDE})


class ConfigError(ValueError):
    """One or more settings are wrong; the message lists each with the reason."""


@dataclass(frozen=True)
class Config:
    medical_institution_code: str
    data_dir: Path
    key_file: Path
    central_url: str
    central_ca: Path
    device_cert: Path
    device_key: Path
    jpki_root_file: Path
    export_dir: Path
    export_retry_s: float
    central_timeout_s: float
    central_deadline_s: float
    central_retries: int
    central_connect_timeout_s: float
    central_breaker_failures: int
    central_breaker_open_s: float
    central_mode: str
    terminal_root: Path
    terminal_rescan_s: float
    terminal_timeout_s: float
    reader: str
    reader_backend: str
    staff_host: str
    staff_port: int
    staff_tls_cert: Path
    staff_tls_key: Path
    kiosk_port: int
    web_threads: int
    web_timeout_s: float
    event_streams_max: int
    disk_reserve_mb: int
    pin_timeout_s: float
    consent_timeout_s: float
    staff_timeout_s: float
    kiosk_reset_s: float
    card_left_alert_s: float
    consent_kinds: str
    language: str
    retention_days: int
    retention_max_share: float
    clock_tolerance_s: float
    audit_retention_days: int
    outbox_drain_every_s: int
    outbox_rate_per_s: float
    outbox_backoff_base_s: int
    outbox_backoff_max_s: int
    outbox_give_up_h: int
    bulk_at: str
    bulk_batch_size: int
    bulk_poll_max_s: int
    backup_dir: Path
    backup_keep: int
    backup_at: str
    backup_passphrase_file: Path
    signal_light_url: str
    ticket_printer_url: str
    ticket_notice: str
    demo: bool
    demo_data: Path
    log_level: str
    # setting name → SOURCE_*; not a setting itself, and not part of equality
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def consent_kind_list(self) -> tuple[str, ...]:
        """The consent kinds asked at the kiosk, in the clinic's order."""
        return tuple(k.strip() for k in self.consent_kinds.split(",") if k.strip())

    @property
    def database_path(self) -> Path:
        return self.data_dir / "onshi.db"

    @property
    def store_key_path(self) -> Path:
        return self.key_file if str(self.key_file) not in ("", ".") else self.data_dir / "store.key"


_INTEGER = re.compile(r"[+-]?[0-9]{1,4000}")  # ASCII digits only: int() also takes "١٢" and "1_0"
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOT_FINITE = ("nan", "inf", "infinity")
FINITE_REASON = "有限の数で指定してください / must be a finite number (not nan or inf)"
MAX_TEXT = 4096  # the longest text or path a setting takes (PATH_MAX)
MAX_FILE_BYTES = 1024 * 1024  # a settings file is a few hundred bytes
# ONSHI_ variables that are not settings; any other ONSHI_ name is a typo and refused at start.
OTHER_ENVIRONMENT: dict[str, str] = {
    "ONSHI_CONFIG": "the TOML settings file (onshi --config)",
    "ONSHI_SIM_DATA": "the simulators' data directory (onshi sim --data)",
}


def _what(raw: Any) -> tuple[str, str]:
    """How a value that has the wrong type reads in a reason (ja, en)."""
    if isinstance(raw, bool):
        return "真偽値", "true/false"
    if isinstance(raw, int):
        return "整数", "an integer"
    if isinstance(raw, float):
        return "小数", "a decimal number"
    if isinstance(raw, dict):
        return "表 (テーブル)", "a table"
    if isinstance(raw, list):
        return "配列", "an array"
    if isinstance(raw, str | PurePath):
        return "文字列", "text"
    return "日時", "a date or time"  # the remaining TOML types


def _wrong_type(ja: str, en: str, raw: Any) -> ValueError:
    if isinstance(raw, str):  # typed text (environment, admin page): the type is no news
        return ValueError(f"{ja}で指定してください / must be {en}")
    got_ja, got_en = _what(raw)
    return ValueError(
        f"{ja}で指定してください ({got_ja}が指定されました) / must be {en} (got {got_en})"
    )


def _text(raw: str) -> str:
    if len(raw) > MAX_TEXT:
        raise ValueError(f"{MAX_TEXT}文字までです / must be at most {MAX_TEXT} characters")
    if any(unicodedata.category(char) == "Cc" for char in raw):
        raise ValueError("制御文字は使えません / must not contain control characters")
    return raw


def _convert(setting: Setting, raw: Any) -> Any:
    """The value of the setting's type; strict: a TOML value must already have that type, a
    text (environment, admin page) must spell it in ASCII digits or the words below."""
    if setting.kind is bool:
        if isinstance(raw, bool):
            return raw
        text = raw.strip().lower() if isinstance(raw, str) else None
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise _wrong_type("true または false", "true or false", raw)
    if setting.kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and _INTEGER.fullmatch(raw.strip()):
            return int(raw.strip())
        raise _wrong_type("整数", "an integer", raw)
    if setting.kind is float:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str) and _DECIMAL.fullmatch(raw.strip()):
            return float(raw.strip())
        if isinstance(raw, str) and raw.strip().lower().lstrip("+-") in _NOT_FINITE:
            raise ValueError(FINITE_REASON)
        raise _wrong_type("数値", "a number", raw)
    if setting.kind is Path:
        if isinstance(raw, PurePath):
            return Path(_text(str(raw)))
        if isinstance(raw, str):
            return Path(_text(raw))
        raise _wrong_type("パス (文字列)", "a path (a quoted string in TOML)", raw)
    if isinstance(raw, str):
        return _text(raw)
    raise _wrong_type("文字列", "text (a quoted string in TOML)", raw)


def _range_problem(setting: Setting, value: Any) -> str | None:
    if setting.kind not in (int, float):
        return None
    if not math.isfinite(value):
        return FINITE_REASON
    low = 0.0 if setting.minimum is None else setting.minimum  # never negative
    high = setting.maximum
    if value < low or (high is not None and value > high):
        lo = number_text(low)
        if high is None:
            return f"{lo}以上で指定してください / must be at least {lo}"
        hi = number_text(high)
        return f"{lo}〜{hi}の範囲で指定してください / must be between {lo} and {hi}"
    return None


def parse_setting(setting: Setting, raw: Any) -> Any:
    """The typed value of `raw` for `setting`; ValueError with the reason (ja / en) when refused.

    load_config (file, environment, stored values) and the admin page all validate through
    here, so they cannot disagree: the type strictly, then the declared range, then the check.
    """
    value = _convert(setting, raw)
    reason = _range_problem(setting, value)
    if reason is None and setting.check is not None:
        try:
            reason = setting.check(value)
        except (TypeError, ValueError, OverflowError):
            reason = "値が正しくありません / invalid value"
    if reason:
        raise ValueError(reason)
    return value


def _shown(value: Any) -> str:
    """A refused value as an error message quotes it: short, and control characters escaped."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _name(name: str) -> str:
    """A key or variable name as a message shows it: short, printable."""
    return "".join(c if c.isprintable() else "?" for c in name[:64])


def _read_file(path: Path) -> dict[str, Any]:
    """The TOML file's table; ConfigError saying what is wrong with the file itself."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"設定ファイルを読めません / cannot read {path}: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            f"設定ファイルが大きすぎます ({MAX_FILE_BYTES // 1024} KiB まで) / "
            f"{path} is larger than {MAX_FILE_BYTES // 1024} KiB: is it the right file?"
        )
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark from a Windows editor is fine
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"設定ファイルが UTF-8 ではありません ({exc.start} バイト目)。"
            f"UTF-8 で保存してください / {path} is not UTF-8 (byte {exc.start}): save it as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"設定ファイルの書式が違います / {path} is not valid TOML: {exc}"
        ) from exc
    except RecursionError:
        raise ConfigError(
            f"設定ファイルの入れ子が深すぎます / {path} nests arrays or tables too deeply: "
            "every setting is a single value"
        ) from None


def _environment_problems(environ: Mapping[str, str]) -> list[str]:
    """ONSHI_ variables that no setting reads: a typo would otherwise leave the default running."""
    known = {"ONSHI_" + s.name.upper() for s in SETTINGS} | set(OTHER_ENVIRONMENT)
    problems = []
    for name in sorted(environ):
        if not name.upper().startswith("ONSHI_") or name in known:
            continue
        close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.75)
        hint = f" ({close[0]} のことですか / did you mean {close[0]}?)" if close else ""
        problems.append(f"{_name(name)}: 未知の環境変数 / unknown environment variable{hint}")
    return problems


def load_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    stored: Mapping[str, str] | None = None,
) -> Config:
    """Defaults ← TOML file ← stored (admin page) ← environment (ONSHI_NAME) ← explicit
    overrides; all errors at once.

    A stored value that no longer validates (renamed setting, stricter check after an upgrade,
    a setting made read-only) is logged as a warning and ignored: the box must still start so an
    admin can fix it on the page.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    raw: dict[str, Any] = {}
    origin: dict[str, str] = {s.name: SOURCE_DEFAULT for s in SETTINGS}
    errors: list[str] = []
    file_values = _read_file(path) if path is not None else {}
    for name, value in file_values.items():
        if name not in SETTINGS_BY_NAME:
            errors.append(f"{_name(name)}: 未知の設定 / unknown setting")
            continue
        raw[name], origin[name] = value, SOURCE_FILE
    for name, value in (stored or {}).items():
        setting = SETTINGS_BY_NAME.get(name)
        reason = stored_setting_problem(name, value)
        if setting is None or reason:
            log.warning("stored setting %s ignored: %s", name[:64], reason)
            continue
        raw[name], origin[name] = value, SOURCE_STORED
    errors.extend(_environment_problems(environ))
    for setting in SETTINGS:
        env = environ.get("ONSHI_" + setting.name.upper())
        if env is not None:
            raw[setting.name], origin[setting.name] = env, SOURCE_ENVIRONMENT
    for name, value in (overrides or {}).items():
        if name in SETTINGS_BY_NAME:
            raw[name], origin[name] = value, SOURCE_OVERRIDE
    for setting in SETTINGS:
        if setting.name not in raw:
            continue
        try:
            values[setting.name] = parse_setting(setting, raw[setting.name])
        except ValueError as exc:
            errors.append(f"{setting.name} = {_shown(raw[setting.name])}: {exc}")
    if values["central_mode"] == "folders" and str(values["terminal_root"]) in ("", "."):
        errors.append(
            "terminal_root: central_mode = folders には資格確認端末の共有フォルダが必要です / "
            "central_mode = folders needs the terminal's shared root"
        )
    if _given(values["backup_dir"]) and not _given(values["backup_passphrase_file"]):
        errors.append(
            "backup_passphrase_file: backup_dir の夜間バックアップにはパスフレーズのファイルが"
            "必要です / the nightly backup to backup_dir needs its passphrase file"
        )
    if errors:
        raise ConfigError("設定に誤りがあります / invalid settings:\n  " + "\n  ".join(errors))
    names = {f.name for f in fields(Config)} - {"sources"}
    assert names == set(SETTINGS_BY_NAME), "Config and SETTINGS must declare the same names"
    return Config(**values, sources=origin)


def _given(path: Path) -> bool:
    """A path setting that is set (its default "" reads back as ".")."""
    return str(path) not in ("", ".")


def stored_setting_problem(name: str, value: str) -> str | None:
    """Why a value saved on the admin page cannot be used (None when it can)."""
    setting = SETTINGS_BY_NAME.get(name)
    if setting is None:
        return "未知の設定 / unknown setting"
    if not setting.editable:
        return "管理画面では変更できない設定 / not editable on the admin page"
    if name == "log_level" and value.strip().upper() == "TRAFFIC":
        # Card traffic in the log is for a technician at the box, never switched on remotely.
        return "TRAFFIC は設定ファイルか環境変数でのみ / TRAFFIC only from the file or environment"
    try:
        parse_setting(setting, value)
    except ValueError as exc:
        return str(exc)
    return None
