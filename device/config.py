"""Every setting of the appliance, declared once: name, type, default, help.

The CLI help, docs/configuration.md and the validation all read SETTINGS, so a setting cannot
exist without documentation (tests/unit/test_docs.py checks the docs).
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePath
from typing import Any

from reader.backend import BACKENDS
from sync.codes import CONSENT_KINDS

log = logging.getLogger(__name__)

LOG_LEVELS = ("ERROR", "WARNING", "INFO", "DEBUG", "TRAFFIC")

# Where a value came from (Config.sources); the admin page cannot change the last two.
SOURCE_DEFAULT, SOURCE_FILE, SOURCE_STORED = "default", "file", "stored"
SOURCE_ENVIRONMENT, SOURCE_OVERRIDE = "environment", "override"
LOCKED_SOURCES = frozenset({SOURCE_ENVIRONMENT, SOURCE_OVERRIDE})


class ConfigError(ValueError):
    """One or more settings are wrong; the message lists each with the reason."""


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type
    default: Any
    help: str
    check: Callable[[Any], str | None] | None = None  # returns the reason a value is refused
    # False: where the data lives and what the box is (demo or not) are decided on the box
    # itself, never from a page served by that box.
    editable: bool = True
    # Numbers: the range accepted, both ends included. Every int and float setting declares
    # both (tests/unit/test_config.py); NaN, infinities and anything outside are refused.
    minimum: float | None = None
    maximum: float | None = None
    # Texts: what is accepted, as docs/configuration.md and `onshi settings` show it.
    accepts: str = ""

    @property
    def range_text(self) -> str:
        """The type and range as the docs and `onshi settings` show them, e.g. "integer 0–65535"."""
        if self.kind in (int, float):
            kind = "integer" if self.kind is int else "number"
            low = _number_text(0.0 if self.minimum is None else self.minimum)
            if self.maximum is None:  # undeclared: test_every_number_declares_its_range fails
                return f"{kind} ≥ {low}"
            return f"{kind} {low}–{_number_text(self.maximum)}"
        if self.kind is bool:
            return "true / false"
        if self.accepts:
            return self.accepts
        return "path" if self.kind is Path else "text"


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _medical_institution_code(value: Any) -> str | None:
    if not re.fullmatch(r"\d{10}", str(value)):
        return "10桁の数字で指定してください / must be 10 digits"
    return None


AUDIT_RETENTION_DAYS_RANGE = (365, 7305)  # one to twenty years


def _url(value: Any) -> str | None:
    if not str(value).startswith("https://"):
        return "https:// で始まる URL / must be an https:// URL"
    return None


def _log_level(value: Any) -> str | None:
    if value not in LOG_LEVELS:
        return " / ".join(LOG_LEVELS) + " のいずれか / must be one of these"
    return None


def _reader_backend(value: Any) -> str | None:
    if value not in BACKENDS:
        return " / ".join(BACKENDS) + " のいずれか / must be one of these"
    return None


def _consent_kinds(value: Any) -> str | None:
    kinds = [k.strip() for k in str(value).split(",") if k.strip()]
    unknown = [k for k in kinds if k not in CONSENT_KINDS]
    if unknown:
        choices = ", ".join(CONSENT_KINDS)
        return f"{choices} から選んでください / choose from these (unknown: {unknown[0]})"
    if len(set(kinds)) != len(kinds):
        return "同じ種類が重複しています / a kind is listed twice"
    return None


def _language(value: Any) -> str | None:
    if value not in ("ja", "en"):
        return "ja または en / must be ja or en"
    return None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "medical_institution_code",
        str,
        "1312345670",
        "医療機関コード (10 digits) sent in every request",
        _medical_institution_code,
        accepts="10 digits (quoted in TOML)",
    ),
    Setting(
        "data_dir",
        Path,
        Path(".onshi"),
        "Directory for the database, its key file and the demo card state",
        editable=False,
    ),
    Setting(
        "key_file",
        Path,
        Path(""),
        "File holding the database encryption keys (default: <data_dir>/store.key; on the "
        "appliance a systemd credential)",
        editable=False,
    ),
    Setting(
        "central_url",
        str,
        "https://127.0.0.1:8443",
        "Base URL of the central eligibility service",
        _url,
        editable=False,  # where patient data goes: decided on the box, never from a web page
        accepts="https:// URL",
    ),
    Setting(
        "central_ca",
        Path,
        Path(".demo/pki/central-ca.pem"),
        "CA certificate the central service's certificate must chain to (pinned)",
        editable=False,
    ),
    Setting(
        "device_cert",
        Path,
        Path(".demo/pki/device.pem"),
        "This appliance's client certificate for mutual TLS",
        editable=False,
    ),
    Setting(
        "device_key",
        Path,
        Path(".demo/pki/device.key"),
        "Private key of the client certificate",
        editable=False,
    ),
    Setting(
        "central_timeout_s",
        float,
        10.0,
        "Seconds to wait for one central request before giving up",
        minimum=0.5,
        maximum=300,
    ),
    Setting(
        "central_deadline_s",
        float,
        20.0,
        "Seconds any one central call may take in all, retries and a slowly arriving answer "
        "included",
        minimum=1,
        maximum=300,
    ),
    Setting(
        "central_retries",
        int,
        2,
        "Extra attempts for idempotent central calls after a transport error",
        minimum=0,
        maximum=10,
    ),
    Setting(
        "central_connect_timeout_s",
        float,
        3.0,
        "Seconds a central call may spend reaching the service (connection and TLS handshake, "
        "retries included) before it counts as unreachable",
        minimum=0.2,
        maximum=60,
    ),
    Setting(
        "central_breaker_failures",
        int,
        2,
        "Central calls in a row that find the service unreachable before the circuit opens "
        "(then calls fail at once and the desk shows the outage)",
        minimum=1,
        maximum=20,
    ),
    Setting(
        "central_breaker_open_s",
        float,
        30.0,
        "Seconds the circuit stays open before one call probes the central again",
        minimum=1,
        maximum=3600,
    ),
    Setting(
        "reader",
        str,
        "",
        "Card reader to use: part of its PC/SC name; empty = the first reader found",
    ),
    Setting(
        "reader_backend",
        str,
        "pcsc",
        "Kind of card reader: pcsc (PC/SC through pcscd); each kind is a module in reader/",
        _reader_backend,
        accepts=", ".join(BACKENDS),
    ),
    Setting(
        "staff_host",
        str,
        "127.0.0.1",
        "Address the staff web UI listens on (use the LAN address on the appliance)",
        editable=False,  # a wrong one would lock the admin out of the page that set it
    ),
    Setting(
        "staff_port",
        int,
        8080,
        "Port of the staff web UI",
        editable=False,
        minimum=0,  # 0: any free port (tests)
        maximum=65535,
    ),
    Setting(
        "staff_tls_cert",
        Path,
        Path(""),
        "Certificate (PEM) of the staff web UI's HTTPS; empty = a self-signed one made at first "
        "start in <data_dir>/staff-tls/",
        editable=False,
    ),
    Setting("staff_tls_key", Path, Path(""), "Private key (PEM) of staff_tls_cert", editable=False),
    Setting(
        "kiosk_port",
        int,
        8081,
        "Port of the kiosk page; the kiosk always listens on 127.0.0.1 only",
        editable=False,
        minimum=0,
        maximum=65535,
    ),
    Setting(
        "web_threads",
        int,
        16,
        "Request worker threads of each web listener; live event streams have their own "
        "(event_streams_max)",
        minimum=4,
        maximum=256,
    ),
    Setting(
        "web_timeout_s",
        float,
        10.0,
        "Seconds a client may take to send a whole request head (TLS handshake included) or stay "
        "idle between requests, and a write to it may wait; then the connection is closed",
        minimum=1,
        maximum=120,
    ),
    Setting(
        "event_streams_max",
        int,
        64,
        "Live event streams (desk and kiosk screens) open at once per listener; one more is "
        "refused with 503 and its page tries again later",
        minimum=1,
        maximum=1000,
    ),
    Setting(
        "disk_reserve_mb",
        int,
        16,
        "MiB kept in a reserve file in data_dir: released when the disk is full so answers are "
        "still saved while an admin frees space, made again when space returns (0 = none)",
        minimum=0,
        maximum=1024,
    ),
    Setting(
        "pin_timeout_s",
        float,
        90.0,
        "Seconds the kiosk waits for a PIN before the visit is abandoned",
        minimum=1,
        maximum=3600,
    ),
    Setting(
        "consent_timeout_s",
        float,
        90.0,
        "Seconds the kiosk waits for the patient's consent answers before the visit is abandoned",
        minimum=1,
        maximum=3600,
    ),
    Setting(
        "staff_timeout_s",
        float,
        300.0,
        "Seconds a visit waits for staff (visual check) after a locked PIN or a call for help",
        minimum=1,
        maximum=3600,
    ),
    Setting(
        "kiosk_reset_s",
        float,
        10.0,
        "Seconds the kiosk shows a finished or failed visit before returning to the start",
        minimum=1,
        maximum=600,
    ),
    Setting(
        "consent_kinds",
        str,
        "drug,checkup",
        "Information the kiosk asks consent for, comma separated: drug, checkup, diagnosis, "
        "surgery (empty = no consent screen)",
        _consent_kinds,
        accepts="comma-separated kinds, or empty",
    ),
    Setting(
        "language",
        str,
        "ja",
        "Default language of the pages (ja or en)",
        _language,
        accepts="ja, en",
    ),
    Setting(
        "retention_days",
        int,
        31,
        "Days confirmations are kept before purging",
        minimum=1,
        maximum=3660,  # ten years; the audit log has its own, longer retention
    ),
    Setting(
        "retention_max_share",
        float,
        0.25,
        "Largest share of the confirmations or visits one retention run may delete; a "
        "run that would delete more deletes nothing and alerts the admin (1 = no limit)",
        minimum=0.01,
        maximum=1.0,
    ),
    Setting(
        "clock_tolerance_s",
        float,
        30.0,
        "Seconds the clock may differ from the central's time, or jump, and still be "
        "trusted; past it retention purges wait and the central's time is used",
        minimum=1.0,
        maximum=3600.0,
    ),
    Setting(
        "audit_retention_days",
        int,
        1827,
        "Days audit log entries are kept (default five years); older ones are removed "
        "without breaking the chain's verification",
        minimum=AUDIT_RETENTION_DAYS_RANGE[0],
        maximum=AUDIT_RETENTION_DAYS_RANGE[1],
    ),
    Setting(
        "outbox_drain_every_s",
        int,
        60,
        "Seconds between runs of the re-check queue (outbox): numbers checks the central could "
        "not answer while it was unavailable are asked again",
        minimum=5,
        maximum=3600,
    ),
    Setting(
        "outbox_rate_per_s",
        float,
        5.0,
        "The most re-checks sent to the central per second while the queue drains",
        minimum=0.1,
        maximum=100,
    ),
    Setting(
        "outbox_backoff_base_s",
        int,
        30,
        "Seconds before a queued re-check is asked again after the central was unavailable; "
        "doubled after each such attempt up to outbox_backoff_max_s",
        minimum=1,
        maximum=3600,
    ),
    Setting(
        "outbox_backoff_max_s",
        int,
        1800,
        "The longest wait between two attempts of one queued re-check",
        minimum=1,
        maximum=86400,
    ),
    Setting(
        "demo",
        bool,
        False,
        "Demo mode: shows the sandbox page that places virtual cards. Never on a real clinic",
        editable=False,
    ),
    Setting(
        "demo_data",
        Path,
        Path(".demo"),
        "Simulator data (test PKI, card state) used by the demo sandbox",
        editable=False,
    ),
    Setting(
        "log_level",
        str,
        "INFO",
        "Logging level: ERROR, WARNING, INFO, DEBUG, or TRAFFIC (card APDUs, PIN masked)",
        _log_level,
        accepts=", ".join(LOG_LEVELS),
    ),
)


@dataclass(frozen=True)
class Config:
    medical_institution_code: str
    data_dir: Path
    key_file: Path
    central_url: str
    central_ca: Path
    device_cert: Path
    device_key: Path
    central_timeout_s: float
    central_deadline_s: float
    central_retries: int
    central_connect_timeout_s: float
    central_breaker_failures: int
    central_breaker_open_s: float
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
        lo = _number_text(low)
        if high is None:
            return f"{lo}以上で指定してください / must be at least {lo}"
        hi = _number_text(high)
        return f"{lo}〜{hi}の範囲で指定してください / must be between {lo} and {hi}"
    return None


SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


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
    if errors:
        raise ConfigError("設定に誤りがあります / invalid settings:\n  " + "\n  ".join(errors))
    names = {f.name for f in fields(Config)} - {"sources"}
    assert names == set(SETTINGS_BY_NAME), "Config and SETTINGS must declare the same names"
    return Config(**values, sources=origin)


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
