"""The sandbox's two readers (demo only): with central_mode = folders a card can be placed on
the simulated official terminal's reader (a fake here: device/sandbox.py runs `onshi sim face`),
and the page lists the numbers of the people who hold a 資格確認書; `onshi demo --central
folders` sets the appliance up for the simulated terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from flask.testing import FlaskClient

from device.accounts import Accounts
from device.cli import _parser
from device.demo import demo_overrides
from device.events import EventBus
from device.flow import VisitFlow
from device.inputs import VisitInputs
from device.sandbox import CardSandbox, DemoPerson, OfficialReaderError
from sync.store import Store
from tests.fake_services import services_with
from web.app import create_staff_app

from .test_web import STAFF_HASH, STAFF_USER, FakeFlow, csrf_of, make_config, sign_in, store

__all__ = ["store"]


class CertificateSandbox:
    def __init__(self) -> None:
        self.placed: str | None = None

    def people(self) -> list[DemoPerson]:
        return [
            DemoPerson("P001", "山田　太郎", "ヤマダ　タロウ", "有効・3割", "1234", True),
            DemoPerson(
                "P025",
                "井上　健一",
                "イノウエ　ケンイチ",
                "カードなし",
                "",
                False,
                insurer_number="06138122",
                symbol="記号A",
                number="7001",
                branch="00",
                birthdate="19800215",
                certificate=True,
            ),
        ]

    def place(self, person_id: str) -> None:
        self.placed = person_id

    def remove(self) -> None:
        self.placed = None


class FakeOfficial:
    instances: list[FakeOfficial] = []

    def __init__(self, root: Path) -> None:
        self.root = root
        self.placed: list[str] = []
        self.last: str | None = None
        self.taking = True
        FakeOfficial.instances.append(self)

    def place(self, person_id: str) -> None:
        if not self.taking:
            raise OfficialReaderError("not running")
        self.placed.append(person_id)
        self.last = person_id


class NoCentral:
    def __init__(self, data_dir: Path) -> None:
        self.asked = 0

    def state(self) -> Any:
        self.asked += 1
        raise AssertionError("folders mode has no simulated central to ask")


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeOfficial.instances = []
    monkeypatch.setattr("web.sandbox.OfficialReader", FakeOfficial)


def staff(tmp_path: Path, store: Store, mode: str = "folders") -> FlaskClient:
    overrides: dict[str, Any] = {"demo": True}
    if mode == "folders":
        overrides |= {"central_mode": "folders", "terminal_root": str(tmp_path / "terminal")}
    config = make_config(tmp_path, **overrides)
    if store.user_by_username(STAFF_USER) is None:
        store.add_user(STAFF_USER, "受付 花子", ("reception",), STAFF_HASH)
    services = services_with(
        config=config,
        store=store,
        bus=EventBus(),
        flow=cast(VisitFlow, FakeFlow(inputs=VisitInputs())),
        sandbox=cast(CardSandbox, CertificateSandbox()),
        accounts=Accounts(store),
    )
    return sign_in(create_staff_app(config, services).test_client())


def test_folders_mode_offers_the_official_reader(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("web.sandbox.CentralSandbox", NoCentral)
    client = staff(tmp_path, store)
    (official,) = FakeOfficial.instances
    assert official.root == tmp_path / "terminal"
    page = client.get("/sandbox").get_data(as_text=True)
    assert 'data-place-official="P001"' in page and 'data-place="P001"' in page
    assert 'data-place-official="P025"' not in page  # no card to place
    assert 'id="sim-central"' not in page  # no simulated central in this mode
    assert str(tmp_path / "terminal") in page
    r = client.post("/sandbox/official", data={"csrf_token": csrf_of(client), "person_id": "P001"})
    assert r.status_code == 303 and official.placed == ["P001"]
    page = client.get("/sandbox").get_data(as_text=True)
    assert 'id="official-last" data-person="P001"' in page


def test_bad_input_places_nothing(tmp_path: Path, store: Store) -> None:
    client = staff(tmp_path, store)
    (official,) = FakeOfficial.instances
    csrf = csrf_of(client)
    for person_id in ("P025", "P999", ""):  # no card, nobody, nothing
        r = client.post("/sandbox/official", data={"csrf_token": csrf, "person_id": person_id})
        assert r.status_code == 400
    assert client.post("/sandbox/official", data={"person_id": "P001"}).status_code == 403
    assert official.placed == []


def test_a_terminal_that_does_not_take_the_card_says_what_to_do(
    tmp_path: Path, store: Store
) -> None:
    client = staff(tmp_path, store)
    (official,) = FakeOfficial.instances
    official.taking = False
    r = client.post("/sandbox/official", data={"csrf_token": csrf_of(client), "person_id": "P001"})
    assert r.status_code == 502
    text = r.get_data(as_text=True)
    assert 'id="official-error"' in text and "onshi demo --central folders" in text


def test_api_mode_has_no_official_reader_and_says_where_it_is(tmp_path: Path, store: Store) -> None:
    client = staff(tmp_path, store, mode="api")
    assert FakeOfficial.instances == []
    page = client.get("/sandbox").get_data(as_text=True)
    assert "data-place-official" not in page
    assert "make demo MODE=folders" in page
    r = client.post("/sandbox/official", data={"csrf_token": csrf_of(client), "person_id": "P001"})
    assert r.status_code == 404


@pytest.mark.parametrize("mode", ["api", "folders"])
def test_the_numbers_of_certificate_holders_are_listed(
    tmp_path: Path, store: Store, mode: str
) -> None:
    client = staff(tmp_path, store, mode=mode)
    page = client.get("/sandbox").get_data(as_text=True)
    row = page.split('data-certificate-id="P025"', 1)[1].split("</tr>", 1)[0]
    for value in ("06138122", "記号A", "7001", "1980-02-15"):
        assert value in row
    assert 'data-certificate-id="P001"' not in page
    english = client.get("/sandbox?lang=en").get_data(as_text=True)
    assert "qualification certificate" in english


def test_the_demo_runs_in_either_mode(tmp_path: Path) -> None:
    assert _parser().parse_args(["demo"]).central == "api"
    assert _parser().parse_args(["demo", "--central", "folders"]).central == "folders"
    with pytest.raises(SystemExit):
        _parser().parse_args(["demo", "--central", "smoke-signals"])
    api = demo_overrides(tmp_path)
    assert "central_mode" not in api and "terminal_root" not in api
    folders = demo_overrides(tmp_path, tmp_path / "terminal")
    assert (folders["central_mode"], folders["terminal_root"]) == (
        "folders",
        tmp_path / "terminal",
    )
    config = make_config(tmp_path, **{k: str(v) for k, v in folders.items() if k != "demo"})
    assert config.central_mode == "folders" and config.terminal_root == tmp_path / "terminal"
