"""axe-core on every staff page and every kiosk screen, in headless Chromium on the real stack.

The staff pages come from the staff app's own URL map: every GET route is visited (signed in
as a user who holds every role, so each page shows all it can), except the routes declared in
NOT_PAGES with their reason. A new page is therefore checked without anyone listing it. The
kiosk is driven through its screens with the sandbox's cards; a screen the driven visits do not
reach (a new one, say) is still shown and checked. Serious and critical violations fail the test,
each printed with its rule, the elements and axe's advice; the counts of every page by impact
are printed either way (`pytest -s` or in the failure report).

axe-core comes bundled in axe-playwright-python (axe.min.js, MPL-2.0): nothing is downloaded
when the tests run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from device.appliance import Appliance
from device.checks import NumbersInput
from device.events import (
    CentralDown,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
)
from device.statement import StatementForm
from sim.population import person
from web.app import create_staff_app
from web.auth import SESSION_COOKIE

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000
FAILING = ("serious", "critical")
IMPACTS = ("critical", "serious", "moderate", "minor")
EVERY_ROLE = ("kensa", "点検 花子", ("reception", "clinical", "admin"), "every-role-pass-123")
TOTP_ADMIN = ("kanri", "管理 太郎", ("admin",), "admin-pass-12345")

# GET routes that are not pages a person reads, each with why it is left out.
NOT_PAGES: dict[str, str] = {
    "static": "the pages' own CSS, scripts and icon",
    "reception.confirmations": "JSON for the desk's script",
    "reception.confirmation": "JSON for the desk's script",
    "reception.desk_alerts": "JSON for the desk's script (its open alerts)",
    "signal.light": "JSON for the sandbox's script (the simulated light)",
    "reception.events": "the desk's event stream (SSE)",
    "recheck.alerts": "JSON for the desk's script",
    "bulk.status": "JSON for the bulk pre-check bar's script",
    "admin.status_json": "JSON for the status page's script",
    "api.confirmations": "the read API (JSON, bearer token)",
    "api.coverage_eligibility": "the read API (FHIR JSON, bearer token)",
    "clinical.document": "the central's PDF of a drug or checkup history, shown by the browser",
    "setup.form": "only while no staff user exists (404 here): test_first_start.py checks it",
}
# Pages that need someone not (fully) signed in: visited in that state.
SIGNED_OUT = {"auth.login_form"}
SECOND_STEP = {"auth.login_totp_form"}
# Pages whose content arrives after the load: what to wait for before checking.
# (The kiosk's visit leaves P002's answer: the desk and the search show it.)
VISITOR = "P002"
READY: dict[str, str] = {
    "reception.desk": "#confirmations tr[data-confirmation-id]",
    "reception.search_page": "#search-results tr[data-confirmation-id]",
}
# Query strings that show a page with content rather than empty.
QUERIES: dict[str, str] = {
    "reception.search_page": "?q=" + person(VISITOR).birthdate,
}


@dataclass
class Checked:
    page: str
    counts: Counter[str]
    failing: list[str]


class Axe:
    """axe-core run on one reused page; collects every page's counts and failing findings."""

    def __init__(self, page: Any) -> None:
        from axe_playwright_python.sync_playwright import Axe as Runner

        self.page = page
        self.runner = Runner()
        self.results: list[Checked] = []
        self.rules: Counter[str] = Counter()  # every violated rule (any impact): its elements

    def check(self, name: str) -> None:
        response = self.runner.run(self.page).response
        counts: Counter[str] = Counter()
        failing = []
        for violation in response["violations"]:
            impact = violation.get("impact") or "minor"
            counts[impact] += len(violation["nodes"])
            self.rules[f"{violation['id']} ({impact})"] += len(violation["nodes"])
            if impact in FAILING:
                targets = "; ".join(
                    " ".join(str(t) for t in node["target"]) for node in violation["nodes"][:6]
                )
                more = len(violation["nodes"]) - 6
                failing.append(
                    f"  [{impact}] {violation['id']}: {violation['help']}\n"
                    f"      on: {targets}{f' (+{more} more)' if more > 0 else ''}\n"
                    f"      {violation['helpUrl']}"
                )
        self.results.append(Checked(name, counts, failing))

    def table(self) -> str:
        lines = [f"{'page':<44} " + " ".join(f"{i:>8}" for i in IMPACTS)]
        for c in self.results:
            lines.append(f"{c.page:<44} " + " ".join(f"{c.counts[i]:>8}" for i in IMPACTS))
        return "\n".join(lines)

    def rule_counts(self) -> str:
        return "\n".join(f"  {rule}: {n}" for rule, n in self.rules.most_common())

    def report(self) -> str:
        found = [f"{c.page}:\n" + "\n".join(c.failing) for c in self.results if c.failing]
        return "\n".join(found)


def staff_pages(appliance: Appliance) -> list[tuple[str, str]]:
    """(endpoint, rule) of every GET route of the staff app that is a page."""
    app = create_staff_app(appliance.services.config, appliance.services)
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or set()) and rule.endpoint not in NOT_PAGES:
            pages.append((rule.endpoint, rule.rule))
    declared = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(NOT_PAGES) <= declared, set(NOT_PAGES) - declared  # no stale reasons
    return sorted(pages)


def url_for(endpoint: str, rule: str, ids: dict[str, int]) -> str:
    url = rule
    for name, value in ids.items():
        url = url.replace(f"<int:{name}>", str(value))
    assert "<" not in url, f"{endpoint}: no value for {url}; add one to the test's ids"
    return url + QUERIES.get(endpoint, "")


def set_session(page: Any, base: str, token: str) -> None:
    page.context.clear_cookies()
    if token:
        page.context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": base + "/"}])


def kiosk_screens(appliance: Appliance, page: Any, axe: Axe) -> int:
    """Drive the kiosk through its screens, checking each; returns the stored visit's answer."""
    sandbox = appliance.services.sandbox
    bus = appliance.services.bus
    assert sandbox is not None
    seen: set[str] = set()

    def wait(screen: str) -> None:
        page.wait_for_selector(f"section[data-screen={screen}].active", timeout=WAIT_MS)

    def check(screen: str, state: str = "") -> None:
        wait(screen)
        seen.add(screen)
        axe.check(f"kiosk {screen}{f' ({state})' if state else ''}")

    def type_pin(pin: str) -> None:
        for digit in pin:
            page.click(f"button[data-digit='{digit}']")
        page.click("#pin-ok")

    page.goto(f"http://127.0.0.1:{appliance.kiosk.port}/")
    check("welcome")
    # A visit with a wrong PIN first, then consent one kind at a time.
    who = person(VISITOR)
    sandbox.place(who.id)
    check("pin")
    type_pin("9999" if who.pin != "9999" else "8888")
    page.wait_for_selector("#wrong-pin:visible", timeout=WAIT_MS)
    check("pin", "wrong PIN")
    type_pin(who.pin)
    check("consent")
    page.click("#consent-each")
    page.click("button.choice[data-kind=drug][data-answer=yes]")
    check("consent", "one kind at a time")
    page.click("button.choice[data-kind=checkup][data-answer=yes]")
    page.click("#consent-submit")
    check("done")
    outcome = appliance.services.flow.last_outcome
    assert outcome is not None and outcome.confirmation is not None
    sandbox.remove()
    wait("welcome")
    # One try left: the warning, then asking for staff.
    sandbox.place("P021")
    wait("pin")
    page.wait_for_selector("#last-try-warning:visible", timeout=WAIT_MS)
    check("pin", "last try")
    page.click("#ask-staff")
    check("staff")
    sandbox.remove()
    wait("welcome")
    # A blocked card.
    sandbox.place("P022")
    check("blocked")
    sandbox.remove()
    wait("welcome")
    # Screens a visit passes too quickly to check, and the error and offline endings: shown
    # through the event stream as a visit would show them.
    marker = "a" * 16
    bus.publish(VisitStarted(marker, "marker", datetime.now(UTC)))
    check("reading")
    bus.publish(VisitStateChanged(marker, "confirming"))
    check("checking")
    bus.publish(VisitStateChanged(marker, "offline_done"))
    check("offline_done")
    other = "b" * 16
    bus.publish(VisitStarted(other, "marker", datetime.now(UTC)))
    wait("reading")
    bus.publish(VisitFailed(other, "central_unreadable"))
    check("error")
    # Any other screen of the page (one added later) is shown as its script would show it.
    names = page.eval_on_selector_all(
        "section[data-screen]", "all => all.map(s => s.getAttribute('data-screen'))"
    )
    for name in names:
        if name in seen:
            continue
        page.evaluate(
            """name => document.querySelectorAll("section[data-screen]").forEach(s => {
                 const on = s.getAttribute("data-screen") === name;
                 s.hidden = !on; s.classList.toggle("active", on); })""",
            name,
        )
        check(name, "shown directly")
    # The English screens share the markup: the first one checks the language switch's side.
    page.goto(f"http://127.0.0.1:{appliance.kiosk.port}/?lang=en")
    check("welcome", "English")
    return outcome.confirmation.id


def test_every_staff_page_and_kiosk_screen_passes_axe(
    appliance_factory: Callable[..., Appliance], browser: Any
) -> None:
    started = time.monotonic()
    appliance = appliance_factory()
    services = appliance.services
    accounts = services.accounts
    assert accounts is not None
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 800}, locale="ja-JP"
    )
    page = context.new_page()
    axe = Axe(page)

    confirmation_id = kiosk_screens(appliance, page, axe)
    form = services.statements.start(confirmation_id, actor="test")
    form = StatementForm(**{**form.__dict__, "card_held": "no", "insurance_kind": "national"})
    statement = services.statements.save(form, actor="test", confirmation_id=confirmation_id)
    ids = {"confirmation_id": confirmation_id, "statement_id": statement.id}

    everyone = accounts.create_user(*EVERY_ROLE[:3], EVERY_ROLE[3], actor="test")
    full = accounts.start_session(everyone, client="127.0.0.1")
    accounts.complete_second_factor(full)
    admin = accounts.create_user(*TOTP_ADMIN[:3], TOTP_ADMIN[3], actor="test")
    secret = accounts.new_totp_secret()
    accounts.enrol_totp(admin, secret, current_code(secret), actor="test")
    pending = accounts.start_session(admin, client="127.0.0.1")

    who = person("P025")
    base = appliance.staff.base_url
    for endpoint, rule in staff_pages(appliance):
        token = "" if endpoint in SIGNED_OUT else pending if endpoint in SECOND_STEP else full
        set_session(page, base, token)
        response = page.goto(base + url_for(endpoint, rule, ids))
        assert response is not None and response.ok, (endpoint, response and response.status)
        content_type = response.headers.get("content-type", "")
        assert content_type.startswith("text/html"), f"{endpoint}: {content_type}; declare it"
        if endpoint in READY:
            page.wait_for_selector(READY[endpoint], timeout=WAIT_MS)
        axe.check(endpoint)
    refused = services.checks.check(
        NumbersInput(who.insurer_number, who.symbol, who.number, who.branch, who.birthdate),
        actor="test",
    )  # a 資格確認書 holder: no consent to share, so the doctor's view refuses
    staff_states(appliance, page, axe, full, refused.id)
    context.close()

    seconds = time.monotonic() - started
    print(f"\naxe-core on {len(axe.results)} pages and screens in {seconds:.1f} s\n{axe.table()}")
    print(f"elements by rule, all pages:\n{axe.rule_counts()}")
    assert len(axe.results) > 30  # every page, not a handful
    report = axe.report()
    assert not report, f"serious or critical accessibility violations:\n{report}\n\n{axe.table()}"


def staff_states(appliance: Appliance, page: Any, axe: Axe, token: str, refused: int) -> None:
    """The states of staff pages that their plain GET does not show: refusals, the errors of
    forms, the desk's alerts and the page a mistyped address gets."""
    base = appliance.staff.base_url
    set_session(page, base, "")
    page.goto(base + "/login")
    page.fill("#username", "nobody")
    page.fill("#password", "wrong password 1")
    page.click("button.login-submit")
    page.wait_for_selector("#login-error")
    axe.check("auth.login (wrong password)")
    set_session(page, base, token)
    page.goto(base + "/no-such-page")
    axe.check("error page (404)")
    page.goto(base + "/search?q=" + "not a date")
    page.wait_for_selector(".search-error")
    axe.check("reception.search_page (not understood)")
    page.goto(f"{base}/clinical/confirmations/{refused}/drug")
    axe.check("clinical.drug (no consent: refused)")
    page.goto(base + "/statements/new")
    page.click("#statement-save")
    page.wait_for_selector("#statement-invalid")
    axe.check("statement.new (every field wrong)")
    page.goto(base + "/admin/settings")
    page.fill("#f-medical_institution_code", "123")
    page.click("#save-settings")
    page.wait_for_selector("#settings-invalid")
    axe.check("admin.settings (invalid value)")
    page.goto(base + "/")
    page.wait_for_selector("#confirmations tr[data-confirmation-id]", timeout=WAIT_MS)
    bus = appliance.services.bus
    bus.publish(CentralDown(datetime.now(UTC)))
    asking = "c" * 16
    bus.publish(VisitStarted(asking, "marker", datetime.now(UTC)))
    bus.publish(VisitStateChanged(asking, "awaiting_staff"))
    page.wait_for_selector("#staff-alert:visible", timeout=WAIT_MS)
    axe.check("reception.desk (help asked, central down)")


def current_code(secret: bytes) -> str:
    from cryptography.hazmat.primitives.hashes import SHA1
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    return TOTP(secret, 6, SHA1(), 30).generate(time.time()).decode()
