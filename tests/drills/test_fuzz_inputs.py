"""Fuzzers of what a person or a hostile page can hand the box: settings (values, files, the
environment, the admin page's form) and the JSON bodies of the kiosk and of /api/checks.

Fixed seeds, so a failure is the same failure on the next run; the number of cases scales with
the drill budget. A setting is refused with ConfigError/ValueError and a reason in both
languages, or accepted inside its declared range: never a traceback. A body is answered with a
4xx or success: never a 500.
"""

from __future__ import annotations

import json
import logging
import math
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, cast

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from device.accounts import Accounts
from device.checks import ManualChecks
from device.config import Config, ConfigError, load_config, parse_setting
from device.confirm import Confirmations
from device.events import EventBus
from device.flow import ActiveVisit, VisitFlow
from device.settings import SETTINGS, SETTINGS_BY_NAME, Setting
from sync.central import CentralClient
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from tests.fake_services import services_with
from tests.unit.test_checks import KYOKAI, MIC, FakeCentral
from tests.unit.test_web import (
    STAFF_HASH,
    STAFF_USER,
    FakeFlow,
    as_kiosk_browser,
    csrf_of,
    make_config,
    sign_in,
)
from web.admin import setting_rows, settings_changes
from web.app import create_kiosk_app, create_staff_app

CONFIG_VALUE_CASES = 2_000  # × drill_budget
CONFIG_FILE_CASES = 1_000
JSON_CASES = 1_500

# Digits and look-alikes from other scripts, and the words float() and int() understand.
FOREIGN_DIGITS = "٠١٢٣٤٥٦٧٨٩۰۱۲۳४५६০১২０１２３①②¹²³𝟎𝟏𝟐"
NUMBER_WORDS = ("nan", "NaN", "-nan", "inf", "+inf", "-Infinity", "1e309", "-0", "0x10", "1_000")
TEXT_ALPHABET = string.printable + FOREIGN_DIGITS + "ｱｲｳ漢字\u3000\u200b\x00\x7f\ud7ff"


# -- what gets typed ------------------------------------------------------------------------------
def random_text(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return rng.choice(NUMBER_WORDS)
    if kind == 1:  # a plausible number, maybe with a foreign digit or a stray character
        text = str(rng.choice([rng.randint(-(10**6), 10**6), rng.uniform(-1e6, 1e6)]))
        if rng.random() < 0.5:
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice(FOREIGN_DIGITS + " ._e+-") + text[at:]
        return text
    if kind == 2:
        return str(rng.choice([0, 1, 65535, 65536, 10**20, -1])) + rng.choice(["", ".0", ".5"])
    if kind == 3:
        return rng.choice(["true", "false", "yes", "on", "TRUE", "ja", "en", "INFO", "TRAFFIC"])
    if kind == 4:
        return rng.choice(["drug", "checkup", "drug,drug", "drug,,checkup", "x", ""])
    if kind == 5:
        return "https://" + "".join(rng.choices(string.ascii_lowercase, k=rng.randrange(20)))
    if kind == 6:
        return "x" * rng.choice([0, 1, 4096, 4097, 100_000])
    return "".join(rng.choices(TEXT_ALPHABET, k=rng.randrange(30)))


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """A value as a TOML file or the demo's overrides could hand it over."""
    kind = rng.randrange(10)
    if kind == 0:
        return rng.choice([True, False])
    if kind == 1:
        return rng.choice([0, 1, -1, 8080, 65536, 10**18, -(10**30), rng.randint(-999, 99999)])
    if kind == 2:
        return rng.choice([math.nan, math.inf, -math.inf, 0.0, -0.0, 8080.0, 8080.5, 1e308])
    if kind == 3 and depth < 4:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == 4 and depth < 4:
        return {random_text(rng)[:8]: random_value(rng, depth + 1) for _ in range(2)}
    if kind == 5:
        return rng.choice([date(2026, 1, 1), time(9, 30), datetime(2026, 1, 1, tzinfo=UTC)])
    if kind == 6:
        return Path(random_text(rng))
    return random_text(rng)


def check_accepted(setting: Setting, value: Any) -> str | None:
    """Why an accepted value should not have been (None when it is fine)."""
    if setting.kind is bool:
        return None if isinstance(value, bool) else "not a bool"
    if setting.kind in (int, float):
        if type(value) is not setting.kind:
            return f"not {setting.kind.__name__}"
        assert setting.minimum is not None and setting.maximum is not None
        if not math.isfinite(value) or not setting.minimum <= value <= setting.maximum:
            return "outside the declared range"
        return None
    if not isinstance(value, setting.kind):
        return f"not {setting.kind.__name__}"
    text = str(value)
    if any(ord(c) < 32 or ord(c) == 127 for c in text) or len(text) > 4096:
        return "control characters or too long"
    return None


def config_in_range(config: Config) -> str | None:
    for f in fields(Config):
        if f.name in SETTINGS_BY_NAME:
            problem = check_accepted(SETTINGS_BY_NAME[f.name], getattr(config, f.name))
            if problem:
                return f"{f.name}: {problem}"
    return None


# -- TOML files -----------------------------------------------------------------------------------
def toml_literal(rng: random.Random, depth: int = 0) -> str:
    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice(["true", "false", "nan", "+inf", "-inf", "-nan"])
    if kind == 1:
        return str(rng.choice([0, 8080, -1, 65536, 10**19, 31]))
    if kind == 2:
        return rng.choice(["8080.5", "1e308", "1e-9", "0.0", "3_600", "0x1F90", "0o17"])
    if kind == 3:
        return json.dumps(random_text(rng), ensure_ascii=rng.random() < 0.5)
    if kind == 4:
        return "'" + random_text(rng).replace("'", "").replace("\n", "") + "'"
    if kind == 5 and depth < 6:
        return "[" + ", ".join(toml_literal(rng, depth + 1) for _ in range(rng.randrange(3))) + "]"
    if kind == 6 and depth < 6:
        return "{ a = " + toml_literal(rng, depth + 1) + " }"
    if kind == 7:
        return rng.choice(["2026-01-01", "09:30:00", "2026-01-01T09:30:00Z"])
    if kind == 8:  # absurd nesting
        n = rng.choice([50, 500, 5000])
        return "[" * n + "]" * n
    if kind == 9:
        return '"""' + random_text(rng).replace('"', "") + '"""'
    return random_text(rng)  # not TOML at all, usually


def random_file(rng: random.Random) -> bytes:
    lines = []
    names = [s.name for s in SETTINGS] + ["retenton_days", "staff", "", "a.b", '"reader"']
    for _ in range(rng.randrange(1, 6)):
        name = rng.choice(names)
        if rng.random() < 0.1:
            lines.append(f"[{name or 'table'}]")
        lines.append(f"{name} = {toml_literal(rng)}")
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    mutation = rng.randrange(6)
    if mutation == 0:
        data = "\n".join(lines).encode("utf-16")  # not UTF-8
    elif mutation == 1 and data:
        at = rng.randrange(len(data))
        data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
    elif mutation == 2:
        data = b"\xef\xbb\xbf" + data  # a BOM
    return data


@dataclass
class Tally:
    cases: int = 0
    refused: int = 0
    tracebacks: int = 0

    def __post_init__(self) -> None:
        self.examples: list[str] = []

    def run(self, label: str, attempt: Callable[[], str | None]) -> None:
        """attempt() returns a problem with an accepted value, or raises ConfigError/ValueError."""
        self.cases += 1
        try:
            problem = attempt()
        except (ConfigError, ValueError) as exc:
            self.refused += 1
            message = str(exc)
            if " / " not in message or "Traceback" in message:
                problem = f"reason without both languages: {message[:120]!r}"
            else:
                return
        except Exception as exc:  # noqa: BLE001 — exactly what this drill is looking for
            self.tracebacks += 1
            problem = f"{type(exc).__name__}: {str(exc)[:120]}"
        if problem and len(self.examples) < 10:
            self.examples.append(f"{label}: {problem}")
        elif problem:
            self.examples.append("…")


def test_fuzz_config_values_files_and_environment(
    tmp_path: Path, drill_budget: int, figure: Callable[[str], None]
) -> None:
    rng = random.Random(8_0001)
    values, files = Tally(), Tally()
    settings = list(SETTINGS)
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path)})
    rows = setting_rows(config, {}, "ja")
    editable = [row.setting.name for row in rows if not row.locked]
    for _ in range(CONFIG_VALUE_CASES * drill_budget):
        setting = rng.choice(settings)
        raw = random_value(rng)

        def direct(setting: Setting = setting, raw: Any = raw) -> str | None:
            return check_accepted(setting, parse_setting(setting, raw))

        values.run(f"parse_setting({setting.name}, {raw!r:.60})", direct)
        text = random_text(rng)
        env = {"ONSHI_" + setting.name.upper(): text}
        if rng.random() < 0.1:
            env["ONSHI_" + random_text(rng).upper()[:12]] = "1"  # a misspelt neighbour

        def environment(env: dict[str, str] = env) -> str | None:
            return config_in_range(load_config(environ=env))

        values.run(f"environment {env!r:.80}", environment)
        name = rng.choice(editable)

        def admin_page(name: str = name, text: str = text) -> str | None:
            # The admin page's own path: the form's text through settings_changes.
            # The page says why in its reader's language: ask in both, check both.
            form = MultiDict({"_fields": [name], name: text})
            changes, errors = settings_changes(rows, form, "ja")
            if errors:
                english = settings_changes(rows, form, "en")[1]
                raise ValueError(f"{errors[name]} / {english[name]}")
            saved = changes.get(name)
            if saved is not None:
                return check_accepted(
                    SETTINGS_BY_NAME[name], parse_setting(SETTINGS_BY_NAME[name], saved)
                )
            return None

        values.run(f"admin form {name}={text!r:.60}", admin_page)
    file = tmp_path / "onshi.toml"
    for _ in range(CONFIG_FILE_CASES * drill_budget):
        data = random_file(rng)
        file.write_bytes(data)

        def from_file() -> str | None:
            return config_in_range(load_config(file, environ={}))

        files.run(f"file {data[:80]!r}", from_file)
    figure(
        f"{values.cases:,} config values and {files.cases:,} config files "
        f"({values.refused + files.refused:,} refused with a reason), "
        f"{values.tracebacks + files.tracebacks} tracebacks"
    )
    assert not values.examples and not files.examples, "\n".join(values.examples + files.examples)


# -- JSON bodies: the kiosk and /api/checks ---------------------------------------------------
def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9)
    if kind == 0 and depth < 12:
        return {
            rng.choice(
                ["visit_id", "pin", "answers", "drug", "number", random_text(rng)[:6]]
            ): random_json(rng, depth + 1)
            for _ in range(rng.randrange(4))
        }
    if kind == 1 and depth < 12:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.choice([0, -1, 10**30, 1.5, 1e308, 4321])
    if kind == 4:
        return rng.choice(["ab12", "cafe01", "1234", KYOKAI, "S58.8.7", "19830807", ""])
    return random_text(rng)


def random_body(rng: random.Random, path: str) -> bytes:
    kind = rng.randrange(8)
    if kind == 0:  # nesting past any limit, inside an object or bare
        n = rng.choice([9, 100, 1_000, 1_900, 30_000])
        inner = rng.choice([b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n])
        return inner if rng.random() < 0.5 else b'{"visit_id": "ab12", "pin": ' + inner + b"}"
    if kind == 1:
        return rng.choice([b"NaN", b'{"pin": Infinity}', b"\xff\xfe", b"", b"{", b'"\\ud800"'])
    if kind == 2 and path == "/api/checks":
        body: dict[str, Any] = {
            "insurer_number": KYOKAI,
            "symbol": random_text(rng),
            "number": random_text(rng),
            "branch": random_text(rng)[:3],
            "birthdate": random_text(rng),
            "care_date": rng.choice(["", random_text(rng)]),
        }
        return json.dumps(body).encode()
    if kind == 3 and path != "/api/checks":
        answers = {k: random_json(rng, 11) for k in ("drug", "checkup")}
        value = {"visit_id": "ab12", "pin": random_json(rng, 11), "answers": answers}
        return json.dumps(value).encode()
    data = json.dumps(random_json(rng), ensure_ascii=rng.random() < 0.5).encode(
        "utf-8", "surrogatepass"
    )
    if kind == 4 and data:  # a byte mutated
        at = rng.randrange(len(data))
        data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
    return data


class WaitingVisit(FakeFlow):
    """A visit that is waiting for the patient's consent, so /consent bodies are read whole."""

    def __init__(self) -> None:
        super().__init__()
        visit = ActiveVisit("ab12", "r", datetime(2026, 4, 1, 1, 30, tzinfo=UTC))
        visit.consent_kinds = ("drug", "checkup")
        self.current = visit

    def ask_staff(self, visit_id: str) -> bool:
        return False


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[tuple[FlaskClient, FlaskClient, str]]:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    store.add_user(STAFF_USER, "受付 花子", ("reception",), STAFF_HASH)
    config = make_config(tmp_path)
    bus = EventBus()
    services = services_with(
        config=config,
        store=store,
        bus=bus,
        flow=cast(VisitFlow, WaitingVisit()),
        accounts=Accounts(store),
        checks=ManualChecks(
            medical_institution_code=MIC,
            confirmations=Confirmations(
                transport=cast(CentralClient, FakeCentral()), store=store, bus=bus
            ),
            store=store,
        ),
    )
    staff = sign_in(create_staff_app(config, services).test_client())
    kiosk = as_kiosk_browser(create_kiosk_app(config, services), config.kiosk_port)
    yield kiosk.test_client(), staff, csrf_of(staff)
    store.close()


def test_fuzz_kiosk_and_check_json_bodies(
    clients: tuple[FlaskClient, FlaskClient, str],
    drill_budget: int,
    figure: Callable[[str], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    kiosk, staff, csrf = clients
    rng = random.Random(8_0002)
    statuses: dict[int, int] = {}
    failures: list[str] = []
    caplog.set_level(logging.ERROR, logger="web.app")
    for _ in range(JSON_CASES * drill_budget):
        path = rng.choice(["/pin", "/consent", "/ask-staff", "/api/checks"])
        body = random_body(rng, path)
        if path == "/api/checks":
            r = staff.post(
                path, data=body, content_type="application/json", headers={"X-CSRF-Token": csrf}
            )
        else:
            r = kiosk.post(path, data=body, content_type="application/json")
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        if r.status_code >= 500 and r.status_code not in (502, 503):  # central said so
            failures.append(f"{path} {body[:80]!r} → {r.status_code}")
    server_errors = sum(n for code, n in statuses.items() if code == 500)
    figure(
        f"{sum(statuses.values()):,} kiosk and /api/checks bodies "
        f"({statuses.get(400, 0):,} refused with 400), {server_errors} server errors"
    )
    assert not failures, "\n".join(failures[:10])
    assert "unhandled error" not in caplog.text
