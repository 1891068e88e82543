"""Every setting of the appliance, declared once: name, type, default, range, help.

The CLI help, docs/configuration.md, the admin page and the validation (device/config.py) all
read SETTINGS, so a setting cannot exist without its range and its documentation
(tests/unit/test_docs.py and tests/unit/test_config.py check them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reader.backend import BACKENDS
from sync.bulkmsg import MAX_BULK_ENTRIES
from sync.codes import CONSENT_KINDS

LOG_LEVELS = ("ERROR", "WARNING", "INFO", "DEBUG", "TRAFFIC")
# The admin page's sections, in this order (their names are in web/strings_admin.py).
GROUPS = ("reader", "kiosk", "central", "security", "retention", "system")


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
    # Where the admin page shows it: one of GROUPS (tests/unit/test_settings_groups.py checks
    # that every setting has one).
    group: str = ""

    @property
    def range_text(self) -> str:
        """The type and range as the docs and `onshi settings` show them, e.g. "integer 0–65535"."""
        if self.kind in (int, float):
            kind = "integer" if self.kind is int else "number"
            low = number_text(0.0 if self.minimum is None else self.minimum)
            if self.maximum is None:  # undeclared: test_every_number_declares_its_range fails
                return f"{kind} ≥ {low}"
            return f"{kind} {low}–{number_text(self.maximum)}"
        if self.kind is bool:
            return "true / false"
        if self.accepts:
            return self.accepts
        return "path" if self.kind is Path else "text"


def number_text(value: float) -> str:
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


CENTRAL_MODES = ("api", "folders")


def _central_mode(value: Any) -> str | None:
    if value not in CENTRAL_MODES:
        return " / ".join(CENTRAL_MODES) + " のいずれか / must be one of these"
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


def _time_of_day(value: Any) -> str | None:
    match = re.fullmatch(r"(\d{2}):(\d{2})", str(value))
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        return "HH:MM（00:00〜23:59）で指定してください / must be HH:MM (00:00–23:59)"
    return None


def _time_of_day_or_empty(value: Any) -> str | None:
    return None if str(value) == "" else _time_of_day(value)


PORT_URL_ACCEPTS = "empty (none), /dev/… device, socket://host:port, loop://"


def _port_url(value: Any) -> str | None:
    """A serial peripheral's pyserial URL (device/signal.py); empty = not connected."""
    text = str(value)
    if text == "" or text == "loop://" or re.fullmatch(r"/dev/[A-Za-z0-9_./-]+", text):
        return None
    if (
        re.fullmatch(r"socket://[A-Za-z0-9.-]+:\d{1,5}", text)
        and 0 < int(text.rsplit(":", 1)[1]) < 65536
    ):
        return None
    return "空、/dev/…、socket://ホスト:ポート、loop:// のいずれか / " + PORT_URL_ACCEPTS


def _ticket_notice(value: Any) -> str | None:
    if len(str(value)) > 120:
        return "120文字以内 / at most 120 characters"
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
        group="central",
    ),
    Setting(
        "data_dir",
        Path,
        Path(".onshi"),
        "Directory for the database, its key file and the demo card state",
        editable=False,
        group="system",
    ),
    Setting(
        "key_file",
        Path,
        Path(""),
        "File holding the database encryption keys (default: <data_dir>/store.key; on the "
        "appliance a systemd credential)",
        editable=False,
        group="security",
    ),
    Setting(
        "central_url",
        str,
        "https://127.0.0.1:8443",
        "Base URL of the central eligibility service",
        _url,
        editable=False,  # where patient data goes: decided on the box, never from a web page
        accepts="https:// URL",
        group="central",
    ),
    Setting(
        "central_ca",
        Path,
        Path(".demo/pki/central-ca.pem"),
        "CA certificate the central service's certificate must chain to (pinned)",
        editable=False,
        group="security",
    ),
    Setting(
        "device_cert",
        Path,
        Path(".demo/pki/device.pem"),
        "This appliance's client certificate for mutual TLS",
        editable=False,
        group="security",
    ),
    Setting(
        "device_key",
        Path,
        Path(".demo/pki/device.key"),
        "Private key of the client certificate",
        editable=False,
        group="security",
    ),
    Setting(
        "jpki_root_file",
        Path,
        Path(""),
        "JPKI user-authentication root certificate(s) (PEM, one or more; or one DER) that card "
        "certificates are checked against on the box while the central is unreachable; empty = "
        "not configured (card visits then cannot be proven offline)",
        editable=False,  # what makes a card trusted: decided on the box, never from a web page
        group="security",
    ),
    Setting(
        "export_dir",
        Path,
        Path(""),
        "Folder the receipt computer reads face files from (the official terminal's face/ "
        "format): each card visit's answer is written there; empty = no files written",
        editable=False,  # a folder on this box or a mounted share: set where the mount is made
        group="central",
    ),
    Setting(
        "export_retry_s",
        float,
        30.0,
        "Seconds between attempts to write face files the export folder refused (a share "
        "that is not mounted, a full disk); files are kept until written",
        minimum=1,
        maximum=3600,
        group="central",
    ),
    Setting(
        "central_timeout_s",
        float,
        10.0,
        "Seconds to wait for one central request before giving up",
        minimum=0.5,
        maximum=300,
        group="central",
    ),
    Setting(
        "central_deadline_s",
        float,
        20.0,
        "Seconds any one central call may take in all, retries and a slowly arriving answer "
        "included",
        minimum=1,
        maximum=300,
        group="central",
    ),
    Setting(
        "central_retries",
        int,
        2,
        "Extra attempts for idempotent central calls after a transport error",
        minimum=0,
        maximum=10,
        group="central",
    ),
    Setting(
        "central_connect_timeout_s",
        float,
        3.0,
        "Seconds a central call may spend reaching the service (connection and TLS handshake, "
        "retries included) before it counts as unreachable",
        minimum=0.2,
        maximum=60,
        group="central",
    ),
    Setting(
        "central_breaker_failures",
        int,
        2,
        "Central calls in a row that find the service unreachable before the circuit opens "
        "(then calls fail at once and the desk shows the outage)",
        minimum=1,
        maximum=20,
        group="central",
    ),
    Setting(
        "central_breaker_open_s",
        float,
        30.0,
        "Seconds the circuit stays open before one call probes the central again",
        minimum=1,
        maximum=3600,
        group="central",
    ),
    Setting(
        "central_mode",
        str,
        "api",
        "How qualification requests reach the national system: api (HTTPS with mutual TLS, "
        "the simulator) or folders (the official 資格確認端末's shared req/ res/ folders under "
        "terminal_root; card visits need the api mode for now)",
        _central_mode,
        editable=False,  # where patient data goes: decided on the box, never from a web page
        accepts=", ".join(CENTRAL_MODES),
        group="central",
    ),
    Setting(
        "terminal_root",
        Path,
        Path(""),
        "The official terminal's shared root holding req/ res/ face/ trash/ (a mounted share); "
        "required when central_mode is folders",
        editable=False,  # where patient data goes: decided on the box, never from a web page
        group="central",
    ),
    Setting(
        "terminal_rescan_s",
        float,
        2.0,
        "Seconds between rescans of the terminal's res/ folder while an answer is awaited "
        "(a mounted share delivers no file events for the terminal's own writes)",
        minimum=0.1,
        maximum=60,
        group="central",
    ),
    Setting(
        "terminal_timeout_s",
        float,
        30.0,
        "Seconds to wait for the terminal's answer file before the central counts as "
        "unavailable (the request file is then taken back)",
        minimum=1,
        maximum=300,
        group="central",
    ),
    Setting(
        "reader",
        str,
        "",
        "Card reader to use: part of its PC/SC name; empty = the first reader found",
        group="reader",
    ),
    Setting(
        "reader_backend",
        str,
        "pcsc",
        "Kind of card reader: pcsc (PC/SC through pcscd); each kind is a module in reader/",
        _reader_backend,
        accepts=", ".join(BACKENDS),
        group="reader",
    ),
    Setting(
        "staff_host",
        str,
        "127.0.0.1",
        "Address the staff web UI listens on (use the LAN address on the appliance)",
        editable=False,  # a wrong one would lock the admin out of the page that set it
        group="system",
    ),
    Setting(
        "staff_port",
        int,
        8080,
        "Port of the staff web UI",
        editable=False,
        minimum=0,  # 0: any free port (tests)
        maximum=65535,
        group="system",
    ),
    Setting(
        "staff_tls_cert",
        Path,
        Path(""),
        "Certificate (PEM) of the staff web UI's HTTPS; empty = a self-signed one made at first "
        "start in <data_dir>/staff-tls/",
        editable=False,
        group="security",
    ),
    Setting(
        "staff_tls_key",
        Path,
        Path(""),
        "Private key (PEM) of staff_tls_cert",
        editable=False,
        group="security",
    ),
    Setting(
        "kiosk_port",
        int,
        8081,
        "Port of the kiosk page; the kiosk always listens on 127.0.0.1 only",
        editable=False,
        minimum=0,
        maximum=65535,
        group="kiosk",
    ),
    Setting(
        "web_threads",
        int,
        16,
        "Request worker threads of each web listener; live event streams have their own "
        "(event_streams_max)",
        minimum=4,
        maximum=256,
        group="system",
    ),
    Setting(
        "web_timeout_s",
        float,
        10.0,
        "Seconds a client may take to send a whole request head (TLS handshake included) or stay "
        "idle between requests, and a write to it may wait; then the connection is closed",
        minimum=1,
        maximum=120,
        group="system",
    ),
    Setting(
        "event_streams_max",
        int,
        64,
        "Live event streams (desk and kiosk screens) open at once per listener; one more is "
        "refused with 503 and its page tries again later",
        minimum=1,
        maximum=1000,
        group="system",
    ),
    Setting(
        "disk_reserve_mb",
        int,
        16,
        "MiB kept in a reserve file in data_dir: released when the disk is full so answers are "
        "still saved while an admin frees space, made again when space returns (0 = none)",
        minimum=0,
        maximum=1024,
        group="retention",
    ),
    Setting(
        "pin_timeout_s",
        float,
        90.0,
        "Seconds the kiosk waits for a PIN before the visit is abandoned",
        minimum=1,
        maximum=3600,
        group="kiosk",
    ),
    Setting(
        "consent_timeout_s",
        float,
        90.0,
        "Seconds the kiosk waits for the patient's consent answers before the visit is abandoned",
        minimum=1,
        maximum=3600,
        group="kiosk",
    ),
    Setting(
        "staff_timeout_s",
        float,
        300.0,
        "Seconds a visit waits for staff (visual check) after a locked PIN or a call for help",
        minimum=1,
        maximum=3600,
        group="kiosk",
    ),
    Setting(
        "kiosk_reset_s",
        float,
        10.0,
        "Seconds the kiosk shows a finished or failed visit before returning to the start",
        minimum=1,
        maximum=600,
        group="kiosk",
    ),
    Setting(
        "card_left_alert_s",
        float,
        20.0,
        "Seconds a card may stay on the reader after its visit ended before the desk is alerted "
        "(the kiosk asks for it to be taken at once)",
        minimum=1,
        maximum=600,
        group="kiosk",
    ),
    Setting(
        "consent_kinds",
        str,
        "drug,checkup",
        "Information the kiosk asks consent for, comma separated: drug, checkup, diagnosis, "
        "surgery (empty = no consent screen)",
        _consent_kinds,
        accepts="comma-separated kinds, or empty",
        group="kiosk",
    ),
    Setting(
        "language",
        str,
        "ja",
        "Default language of the pages (ja or en)",
        _language,
        accepts="ja, en",
        group="system",
    ),
    Setting(
        "retention_days",
        int,
        31,
        "Days confirmations are kept before purging",
        minimum=1,
        maximum=3660,  # ten years; the audit log has its own, longer retention
        group="retention",
    ),
    Setting(
        "retention_max_share",
        float,
        0.25,
        "Largest share of the confirmations or visits one retention run may delete; a "
        "run that would delete more deletes nothing and alerts the admin (1 = no limit)",
        minimum=0.01,
        maximum=1.0,
        group="retention",
    ),
    Setting(
        "clock_tolerance_s",
        float,
        30.0,
        "Seconds the clock may differ from the central's time, or jump, and still be "
        "trusted; past it retention purges wait and the central's time is used",
        minimum=1.0,
        maximum=3600.0,
        group="security",
    ),
    Setting(
        "audit_retention_days",
        int,
        1827,
        "Days audit log entries are kept (default five years); older ones are removed "
        "without breaking the chain's verification",
        minimum=AUDIT_RETENTION_DAYS_RANGE[0],
        maximum=AUDIT_RETENTION_DAYS_RANGE[1],
        group="retention",
    ),
    Setting(
        "outbox_drain_every_s",
        int,
        60,
        "Seconds between runs of the re-check queue (outbox): numbers checks the central could "
        "not answer while it was unavailable are asked again",
        minimum=5,
        maximum=3600,
        group="central",
    ),
    Setting(
        "outbox_rate_per_s",
        float,
        5.0,
        "The most re-checks sent to the central per second while the queue drains",
        minimum=0.1,
        maximum=100,
        group="central",
    ),
    Setting(
        "outbox_backoff_base_s",
        int,
        30,
        "Seconds before a queued re-check is asked again after the central was unavailable; "
        "doubled after each such attempt up to outbox_backoff_max_s",
        minimum=1,
        maximum=3600,
        group="central",
    ),
    Setting(
        "outbox_backoff_max_s",
        int,
        1800,
        "The longest wait between two attempts of one queued re-check",
        minimum=1,
        maximum=86400,
        group="central",
    ),
    Setting(
        "bulk_at",
        str,
        "19:00",
        "Time of day (Japan time, HH:MM) after which the next day's appointments are pre-checked "
        "in bulk (一括照会), once a day; empty = no nightly run (「今すぐ照会」 still works)",
        _time_of_day_or_empty,
        accepts="HH:MM (00:00–23:59), or empty (no nightly run)",
        group="central",
    ),
    Setting(
        "bulk_batch_size",
        int,
        MAX_BULK_ENTRIES,
        "Appointments in one bulk inquiry upload; a longer list is split into batches "
        "(the official limit is the maximum)",
        minimum=1,
        maximum=MAX_BULK_ENTRIES,
        group="central",
    ),
    Setting(
        "bulk_poll_max_s",
        int,
        60,
        "The longest wait between two polls of a bulk inquiry's results (they start at 1 s and "
        "double), and between two attempts while the central is unavailable",
        minimum=1,
        maximum=3600,
        group="central",
    ),
    Setting(
        "outbox_give_up_h",
        int,
        72,
        "Hours after which a queued re-check still unanswered is no longer asked: it ends and "
        "the desk shows an alert until a person acknowledges it (check that patient by hand)",
        minimum=1,
        maximum=720,  # thirty days: past the default retention_days a person must have looked
        group="central",
    ),
    Setting(
        "backup_dir",
        Path,
        Path(""),
        "Folder the nightly encrypted backup is written to (a mounted USB stick or network "
        "share; never created: a missing folder is an error); empty = no nightly backup",
        editable=False,  # where patient data goes: decided on the box, never from a web page
        group="retention",
    ),
    Setting(
        "backup_keep",
        int,
        7,
        "Backups kept in backup_dir (generations); the oldest beyond this are removed after a "
        "new one is written",
        minimum=1,
        maximum=366,
        group="retention",
    ),
    Setting(
        "backup_at",
        str,
        "02:30",
        "Time of day (Japan time, HH:MM) after which the nightly backup runs; a box that was "
        "off then backs up when it is next on",
        _time_of_day,
        accepts="HH:MM (00:00–23:59)",
        group="retention",
    ),
    Setting(
        "backup_passphrase_file",
        Path,
        Path(""),
        "File holding the nightly backup's passphrase (on the appliance a systemd credential; "
        "chmod 600; never logged or stored in the database); required when backup_dir is set",
        editable=False,  # a secret's place: decided on the box
        group="retention",
    ),
    Setting(
        "signal_light_url",
        str,
        "",
        "Status light / buzzer (docs/signal.md) as a pyserial URL: /dev/ttyUSB0, "
        "socket://host:port, loop://; empty = none. Unplugged: shown on the status page, "
        "retried in the background",
        _port_url,
        editable=False,  # a device on this box: set where it is plugged in
        accepts=PORT_URL_ACCEPTS,
        group="reader",
    ),
    Setting(
        "ticket_printer_url",
        str,
        "",
        "ESC/POS receipt printer for the reception ticket (受付番号, time, notice) as a pyserial "
        "URL: /dev/ttyUSB0, socket://host:port, loop://; empty = none",
        _port_url,
        editable=False,
        accepts=PORT_URL_ACCEPTS,
        group="reader",
    ),
    Setting(
        "ticket_notice",
        str,
        "",
        "The short notice printed under the ticket number (at most 120 characters; empty = "
        "お呼びするまでお待ちください). Never personal data",
        _ticket_notice,
        accepts="text, at most 120 characters",
        group="kiosk",
    ),
    Setting(
        "demo",
        bool,
        False,
        "Demo mode: shows the sandbox page that places virtual cards. Never on a real clinic",
        editable=False,
        group="system",
    ),
    Setting(
        "demo_data",
        Path,
        Path(".demo"),
        "Simulator data (test PKI, card state) used by the demo sandbox",
        editable=False,
        group="system",
    ),
    Setting(
        "log_level",
        str,
        "INFO",
        "Logging level: ERROR, WARNING, INFO, DEBUG, or TRAFFIC (card APDUs, PIN masked)",
        _log_level,
        accepts=", ".join(LOG_LEVELS),
        group="system",
    ),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
