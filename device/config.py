"""Every setting of the appliance, declared once: name, type, default, help.

The CLI help, docs/configuration.md and the validation all read SETTINGS, so a setting cannot
exist without documentation (tests/unit/test_docs.py checks the docs).
Values come from the defaults, then a TOML file, then the values saved on the admin page (kept in
the database), then ONSHI_<NAME> environment variables, then explicit overrides (the demo's).
Each Config remembers where every value came from, so the admin page can show it and lock the
settings that the environment or the command decides.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sync.codes import CONSENT_KIND

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


def _medical_institution_code(value: Any) -> str | None:
    if not re.fullmatch(r"\d{10}", str(value)):
        return "10桁の数字で指定してください / must be 10 digits"
    return None


def _port(value: Any) -> str | None:
    if not 0 <= int(value) <= 65535:
        return "0〜65535 / must be between 0 and 65535"
    return None


def _positive(value: Any) -> str | None:
    if float(value) <= 0:
        return "正の数 / must be positive"
    return None


def _central_deadline(value: Any) -> str | None:
    # Written so that nan fails too: every comparison with nan is false.
    if not 1.0 <= float(value) <= 300.0:
        return "1〜300 秒 / must be between 1 and 300 seconds"
    return None


def _url(value: Any) -> str | None:
    if not str(value).startswith("https://"):
        return "https:// で始まる URL / must be an https:// URL"
    return None


def _log_level(value: Any) -> str | None:
    if value not in LOG_LEVELS:
        return " / ".join(LOG_LEVELS) + " のいずれか / must be one of these"
    return None


def _consent_kinds(value: Any) -> str | None:
    kinds = [k.strip() for k in str(value).split(",") if k.strip()]
    unknown = [k for k in kinds if k not in CONSENT_KIND]
    if unknown:
        choices = ", ".join(CONSENT_KIND)
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
        _positive,
    ),
    Setting(
        "central_deadline_s",
        float,
        20.0,
        "Seconds any one central call may take in all, retries and a slowly arriving answer "
        "included (1 to 300)",
        _central_deadline,
    ),
    Setting(
        "central_retries",
        int,
        2,
        "Extra attempts for idempotent central calls after a transport error",
    ),
    Setting(
        "reader",
        str,
        "",
        "Card reader to use: part of its PC/SC name; empty = the first reader found",
    ),
    Setting(
        "staff_host",
        str,
        "127.0.0.1",
        "Address the staff web UI listens on (use the LAN address on the appliance)",
        editable=False,  # a wrong one would lock the admin out of the page that set it
    ),
    Setting("staff_port", int, 8080, "Port of the staff web UI", _port, editable=False),
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
        _port,
        editable=False,
    ),
    Setting(
        "pin_timeout_s",
        float,
        90.0,
        "Seconds the kiosk waits for a PIN before the visit is abandoned",
        _positive,
    ),
    Setting(
        "consent_timeout_s",
        float,
        90.0,
        "Seconds the kiosk waits for the patient's consent answers before the visit is abandoned",
        _positive,
    ),
    Setting(
        "staff_timeout_s",
        float,
        300.0,
        "Seconds a visit waits for staff (visual check) after a locked PIN or a call for help",
        _positive,
    ),
    Setting(
        "kiosk_reset_s",
        float,
        10.0,
        "Seconds the kiosk shows a finished or failed visit before returning to the start",
        _positive,
    ),
    Setting(
        "consent_kinds",
        str,
        "drug,checkup",
        "Information the kiosk asks consent for, comma separated: drug, checkup, diagnosis, "
        "surgery (empty = no consent screen)",
        _consent_kinds,
    ),
    Setting("language", str, "ja", "Default language of the pages (ja or en)", _language),
    Setting("retention_days", int, 31, "Days confirmations are kept before purging", _positive),
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
    reader: str
    staff_host: str
    staff_port: int
    staff_tls_cert: Path
    staff_tls_key: Path
    kiosk_port: int
    pin_timeout_s: float
    consent_timeout_s: float
    staff_timeout_s: float
    kiosk_reset_s: float
    consent_kinds: str
    language: str
    retention_days: int
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


def _convert(setting: Setting, raw: Any) -> Any:
    if setting.kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError("true または false / must be true or false")
    if setting.kind is int:
        if isinstance(raw, bool):
            raise ValueError("整数 / must be an integer")
        return int(raw)
    if setting.kind is float:
        return float(raw)
    if setting.kind is Path:
        return Path(str(raw))
    return str(raw)


SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def parse_setting(setting: Setting, raw: Any) -> Any:
    """The typed value of `raw` for `setting`; ValueError with the reason (ja / en) when refused.

    load_config and the admin page both validate through here, so they cannot disagree.
    """
    try:
        value = _convert(setting, raw)
        reason = setting.check(value) if setting.check else None
    except (TypeError, ValueError) as exc:
        reason = str(exc) if setting.kind is bool else _type_reason(setting.kind)
    if reason:
        raise ValueError(reason)
    return value


def _type_reason(kind: type) -> str:
    names = {int: ("整数", "an integer"), float: ("数値", "a number")}
    ja, en = names.get(kind, ("値", kind.__name__))
    return f"{ja}で指定してください / must be {en}"


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
    file_values: dict[str, Any] = {}
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"設定ファイルを読めません / cannot read {path}: {exc.strerror}"
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"設定ファイルの書式が違います / {path} is not valid TOML: {exc}"
            ) from exc
    for name, value in file_values.items():
        if name not in SETTINGS_BY_NAME:
            errors.append(f"{name}: 未知の設定 / unknown setting")
            continue
        raw[name], origin[name] = value, SOURCE_FILE
    for name, value in (stored or {}).items():
        setting = SETTINGS_BY_NAME.get(name)
        reason = stored_setting_problem(name, value)
        if setting is None or reason:
            log.warning("stored setting %s ignored: %s", name[:64], reason)
            continue
        raw[name], origin[name] = value, SOURCE_STORED
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
            errors.append(f"{setting.name} = {raw[setting.name]!r}: {exc}")
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
