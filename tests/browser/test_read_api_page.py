"""The read API on the real appliance: an admin makes a token on the admin page in a real
browser (the secret is shown once), another system reads the answers of numbers checks made
through the simulated central over the staff listener's HTTPS with it — as JSON and as a FHIR
Bundle that the FHIR models accept — and once the admin revokes it, it reads nothing."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle

from device.apitokens import TOKEN_PREFIX
from device.appliance import Appliance
from device.checks import NumbersInput
from sim.population import person

from .conftest import SCREENSHOTS
from .test_staff_pages import ADMIN, code_for

pytestmark = [pytest.mark.browser, pytest.mark.stack]

SECRET = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43}")


def as_typed(person_id: str) -> NumbersInput:
    p = person(person_id)
    birthdate = f"{p.birthdate[:4]}-{p.birthdate[4:6]}-{p.birthdate[6:]}"
    return NumbersInput(p.insurer_number, p.symbol, p.number, p.branch, birthdate)


def sign_in_as_admin(page: Any, base: str) -> None:
    """Password, then the second factor enrolled on the spot (admins always need one)."""
    page.goto(base + "/login?next=/admin/tokens/")
    page.fill("#username", ADMIN[0])
    page.fill("#password", ADMIN[3])
    page.click("button.login-submit")
    page.wait_for_selector("#enrol-required")
    page.fill("#code", code_for(page.inner_text("#totp-secret"), datetime.now(UTC)))
    page.press("#code", "Enter")
    page.wait_for_url(lambda url: "/account/totp" not in url)


def test_a_token_made_on_the_admin_page_reads_the_answers_until_revoked(
    appliance: Appliance, browser: Any
) -> None:
    services = appliance.services
    services.accounts.create_user(ADMIN[0], ADMIN[1], ADMIN[2], ADMIN[3], actor="test")
    # Answers made through the appliance: numbers checks against the simulated central.
    made = [services.checks.check(as_typed(pid), actor="uketsuke") for pid in ("P025", "P001")]
    not_found = replace(as_typed("P025"), number="99999999")
    made.append(services.checks.check(not_found, actor="uketsuke"))
    base = appliance.staff.base_url
    assert base.startswith("https://")

    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 900}, locale="ja-JP"
    )
    page = context.new_page()
    sign_in_as_admin(page, base)
    page.goto(base + "/admin/tokens/")
    page.fill("#create-token input[name=name]", "電子カルテ")
    page.click("#create-token button[type=submit]")
    page.wait_for_selector("#token-created")
    secret = page.input_value("#token-secret")
    assert SECRET.fullmatch(secret)
    page.screenshot(path=str(SCREENSHOTS / "admin-tokens.png"), full_page=True)
    # Shown once: the list, opened again, has the token but not its secret.
    page.goto(base + "/admin/tokens/")
    assert secret not in page.content()
    assert "電子カルテ" in page.inner_text(".tokens-table")

    with httpx.Client(base_url=base, verify=False, timeout=10) as client:
        assert client.get("/api/v1/confirmations").status_code == 401
        # The admin's own browser session opens nothing here either.
        cookies = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
        assert "onshi_staff_session=" in cookies
        with_session = client.get("/api/v1/confirmations", headers={"Cookie": cookies})
        assert with_session.status_code == 401
        auth = {"Authorization": f"Bearer {secret}"}
        body = client.get("/api/v1/confirmations", headers=auth).json()
        rows = body["confirmations"]
        assert [r["id"] for r in rows] == [c.id for c in made]
        assert [r["verdict"] for r in rows] == [c.badge for c in made]
        p025 = person("P025")
        assert rows[0]["qualification"]["number"] == p025.number
        assert rows[0]["qualification"]["insurer_number"] == p025.insurer_number
        assert rows[2]["verdict"] == "NOT_FOUND" and rows[2]["qualification"] is None
        assert client.get(
            "/api/v1/confirmations", params={"since": body["next"]}, headers=auth
        ).json() == {"confirmations": [], "next": body["next"], "more": False}

        fhir = client.get("/api/v1/fhir/CoverageEligibilityResponse?limit=2", headers=auth)
        assert fhir.headers["content-type"].startswith("application/fhir+json")
        bundle = Bundle.model_validate(fhir.json())
        assert bundle.type == "searchset" and len(bundle.entry or []) == 2
        next_url = [link.url for link in bundle.link or [] if link.relation == "next"]
        assert next_url and next_url[0].startswith(base)  # a URL the client can follow as is
        rest = Bundle.model_validate(client.get(str(next_url[0]), headers=auth).json())
        assert [e.resource.id for e in rest.entry or []] == [str(made[2].id)]  # type: ignore[union-attr]

        reads = [e for e in services.store.audit_entries() if e.action == "api.read"]
        assert {e.actor for e in reads} == {"token:電子カルテ"} and len(reads) == 3

        # Revoked on the page: the same secret reads nothing from now on.
        page.click(".tokens-table summary")  # a second step: revoking cannot be undone
        page.click(".tokens-table button[type=submit]")
        page.wait_for_selector("#token-done")
        assert "失効" in page.inner_text(".tokens-table")
        page.screenshot(path=str(SCREENSHOTS / "admin-tokens-revoked.png"), full_page=True)
        refused = client.get("/api/v1/confirmations", headers=auth)
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    context.close()
