"""Reception desk: today's confirmations and the reader's state, live; 目視確認 for a waiting visit;
insurance-number checks typed at the desk, re-checks, search and the detail page of one answer.

Events on the wire carry ids and states only; the page fetches a row by id, and that fetch
is the audited view of personal data, recorded under the signed-in staff user.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    jsonify,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from device.checks import (
    CheckFailed,
    ConfirmationNotFound,
    InputRejected,
    ManualChecks,
    NumbersInput,
)
from device.deskalerts import AlertKind
from device.events import (
    BulkProgress,
    CardGraceOver,
    CardLeftOnReader,
    CentralDown,
    CentralUp,
    ConfirmationStored,
    ConsentRequested,
    DeskAlertAcknowledged,
    DeskAlertRaised,
    Event,
    PinBlocked,
    PinRequested,
    ReaderStatus,
    StaffHelpRequested,
    VisitAborted,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
    VisualCheckChosen,
)
from device.services import Services
from device.status import DISK_FULL_FREE_BYTES
from sync.clock import JST
from sync.store import Confirmation, DeskAlertRow
from web import search, sse
from web.auth import audit_actor, current_user, require_role
from web.bulk import bulk_wire
from web.bulk import current as bulk_current
from web.deskrows import AuditEntry, DeskRows, Shown, as_row, display_name_of
from web.detail import audit_lines, confirmation_detail, pretty_xml, recheck_comparisons
from web.field_errors import field_errors_text, identifier_error_text
from web.inbound import json_object
from web.people import namer
from web.present import (
    DESK_STATES,
    STRINGS,
    desk_state_label,
    earlier_summary,
    reason_text,
    text,
)

VISIT_ID_FORMAT = re.compile(r"[0-9a-f]{1,64}")
# States in which reception may switch the visit to 目視確認.
VISUAL_STATES = ("awaiting_pin", "awaiting_staff", "pin_blocked")
# What the manual-check form sends (all strings, as typed) besides the limit consent flag.
CHECK_FIELDS = ("insurer_number", "symbol", "number", "branch", "birthdate", "care_date")
MAX_FIELD_CHARS = 100  # far beyond any real value: a bound, not the validation
# Unavailable is "try later" (503); the service refusing, answering something unreadable or
# the certificates not matching are all a bad gateway that retrying now will not mend (502).
CHECK_FAILED_STATUS = {"central_unavailable": 503}


def create_blueprint(services: Services, rows: DeskRows) -> Blueprint:
    bp = Blueprint("reception", __name__, url_prefix="")
    bp.before_request(require_role("reception"))
    store = services.store

    # Which run of the appliance served the page: a page that sees another after reconnecting
    # reloads itself (the appliance restarted: new code, new settings).
    boot = secrets.token_hex(8)

    today = rows.today

    def row(c: Confirmation, lang: str) -> dict[str, Any]:
        return shown_rows([c], lang)[0]

    def shown_rows(
        found: Sequence[Confirmation], lang: str, listing: AuditEntry | None = None
    ) -> list[dict[str, Any]]:
        day = today()
        return [as_row(one, lang, day) for one in beside(found, lang, listing)]

    def beside(
        found: Sequence[Confirmation], lang: str, listing: AuditEntry | None = None
    ) -> list[Shown]:
        """`found` with what their rows show beside each answer (DeskRows.beside). The
        earlier answers are personal data shown: each view is audited naming the row it was
        shown for, with `listing` (the list's own entry), in one commit before they leave."""
        shown, entries = rows.beside(found, lang)
        if listing is not None:
            entries.append(listing)
        if entries:
            store.audit_all(audit_actor(), entries)
        return shown

    def rendered_rows(lang: str) -> list[Markup]:
        """Today's rows as the desk page shows them: rendered ahead (web/deskrows.py), else
        now, once a day (and again when what is beside them changes)."""
        day = today()
        found, listing = today_found()
        return rows.rendered(beside(found, lang, listing), lang, day)

    def earlier_of(c: Confirmation) -> Confirmation | None:
        """The 前回確認 an offline visit's detail shows (its personal data: the view is
        audited, naming the row it was shown for)."""
        if not c.offline or c.earlier_id is None:
            return None
        earlier = store.confirmation(c.earlier_id)
        if earlier is not None:
            store.audit(
                audit_actor(),
                "confirmation.view",
                f"confirmation:{earlier.id}",
                f"shown for confirmation:{c.id}",
            )
        return earlier

    def today_found() -> tuple[list[Confirmation], AuditEntry]:
        """Today's answers, newest first, and the list's audit entry."""
        found = rows.found_today()
        return found, ("confirmation.list", "confirmations:today", f"rows={len(found)}")

    def today_rows(lang: str) -> list[dict[str, Any]]:
        found, listing = today_found()
        return shown_rows(found, lang, listing)

    @bp.get("/")
    def desk() -> str:
        lang: str = g.lang
        return render_template(
            "reception.html",
            rows=rendered_rows(lang),
            initial=desk_initial(services, lang),
            state_labels={k: desk_state_label(k, lang) for k in DESK_STATES},
            disk_warning=disk_warning(services, lang),
            central=central_state(services),
            today=store.now().astimezone(JST).strftime("%Y-%m-%d"),
            statements_awaiting=services.statements.count_awaiting(),
            desk_alerts=[alert_view(a, lang) for a in store.open_desk_alerts()],
            boot=boot,
            bulk=bulk_current(services, lang),
        )

    @bp.get("/api/desk-alerts")
    def desk_alerts() -> Response:
        return jsonify(alerts=[alert_view(a, g.lang) for a in store.open_desk_alerts()])

    @bp.post("/api/desk-alerts/<int:alert_id>/acknowledge")
    def acknowledge_alert(alert_id: int) -> tuple[Response, int]:
        """A staff member dealt with it: recorded under their user and display name."""
        user = current_user()
        if user is None:
            abort(401)
        done = store.acknowledge_desk_alert(
            alert_id, actor=user.username, display_name=user.display_name
        )
        if done is None:
            if store.desk_alert(alert_id) is None:
                abort(404)
            return jsonify(ok=False, message=text("desk_alert_gone", g.lang)), 409
        services.bus.publish(DeskAlertAcknowledged(alert_id, user.display_name))
        return jsonify(ok=True, staff=user.display_name), 200

    @bp.get("/api/confirmations")
    def confirmations() -> Response:
        if request.args.get("since", "today") != "today":
            abort(400)
        return jsonify(
            confirmations=today_rows(g.lang), disk_warning=disk_warning(services, g.lang)
        )

    @bp.get("/api/confirmations/<int:confirmation_id>")
    def confirmation(confirmation_id: int) -> Response:
        found = store.confirmation(confirmation_id)
        if found is None:
            abort(404)
        store.audit(audit_actor(), "confirmation.view", f"confirmation:{confirmation_id}")
        return jsonify(row(found, g.lang))

    @bp.post("/api/visits/<visit_id>/visual")
    def visual_check(visit_id: str) -> tuple[Response, int]:
        """目視確認: staff looked at the card's photo and the patient; no PIN is used. The
        request says they did (「写真と本人を確認しました」): without it nothing changes. The
        staff member's display name is recorded with it."""
        if not VISIT_ID_FORMAT.fullmatch(visit_id):
            abort(404)
        body = json_object()
        if body.get("confirmed") is not True:
            return jsonify(ok=False, message=text("visual_confirm_question", g.lang)), 422
        user = current_user()
        if user is None:
            abort(401)
        if not services.flow.switch_to_visual(visit_id, user.username):
            abort(409)
        store.audit(user.username, "visit.visual_confirmed", f"visit:{visit_id}", user.display_name)
        return jsonify(ok=True, staff=user.display_name), 202

    def checks() -> ManualChecks:
        return services.checks

    def checked(run: Callable[[ManualChecks], Confirmation]) -> tuple[Response, int]:
        """Run a check and answer 201 + the row, 422 + field errors, or 502/503 + message."""
        manual = checks()
        try:
            stored = run(manual)
        except InputRejected as exc:
            return jsonify(
                ok=False,
                errors=field_errors_text(exc.errors, g.lang),
                message=text("desk_input_error", g.lang),
            ), 422
        except ConfirmationNotFound:  # the one to re-check is gone (purged meanwhile)
            abort(404)
        except CheckFailed as exc:
            status = CHECK_FAILED_STATUS.get(exc.reason, 502)
            message = reason_text(exc.reason, g.lang)
            if exc.queued:  # asked again by itself once the central is back
                message = f"{message} {text('desk_recheck_queued', g.lang)}"
            earlier = None
            if exc.earlier is not None:  # what to charge meanwhile (a view of personal data)
                subject = f"confirmation:{exc.earlier.id}"
                store.audit(audit_actor(), "confirmation.view", subject, "前回確認")
                message = f"{message} {earlier_summary(exc.earlier, store.now(), g.lang)}"
                earlier = row(exc.earlier, g.lang)
            return jsonify(
                ok=False, reason=exc.reason, message=message, queued=exc.queued, earlier=earlier
            ), status
        store.audit(audit_actor(), "confirmation.view", f"confirmation:{stored.id}")
        return jsonify(row(stored, g.lang)), 201

    @bp.post("/api/checks")
    def manual_check() -> tuple[Response, int]:
        """資格確認書 / insurance numbers typed at the desk (JSON of strings, as typed)."""
        body = json_object()  # 415/400 with the reason: not JSON, not an object, too deep
        values = {name: body.get(name, "") for name in CHECK_FIELDS}
        if any(not isinstance(v, str) or len(v) > MAX_FIELD_CHARS for v in values.values()):
            abort(400)
        limit_consent = body.get("limit_consent", False)
        if not isinstance(limit_consent, bool):
            abort(400)
        # The card visit (kept offline, without 前回確認) these numbers are for, if any.
        for_visit = body.get("for_visit")
        if for_visit is not None and (
            not isinstance(for_visit, int) or isinstance(for_visit, bool) or for_visit < 1
        ):
            abort(400)
        typed = NumbersInput(**values, limit_consent=limit_consent)
        user = audit_actor()
        return checked(lambda manual: manual.check(typed, actor=user, for_visit=for_visit))

    @bp.post("/api/confirmations/<int:confirmation_id>/recheck")
    def recheck(confirmation_id: int) -> tuple[Response, int]:
        if store.confirmation(confirmation_id) is None:
            abort(404)
        user = audit_actor()
        return checked(lambda manual: manual.recheck(confirmation_id, actor=user))

    @bp.get("/search")
    def search_page() -> str:
        lang: str = g.lang
        q = request.args.get("q", "")
        rows: list[dict[str, Any]] = []
        error = ""
        kind = ""
        if q.strip():
            try:
                query = search.parse_query(q)
            except search.QueryError as exc:
                error = text(exc.key, lang, part=exc.part) if exc.part else text(exc.key, lang)
                if exc.identifier is not None:
                    error = f"{error} ({identifier_error_text(exc.identifier, lang)})"
            else:
                kind = query.kind
                # The kind of search only: the text typed is personal data.
                listing = ("confirmation.search", "confirmations:search", kind)
                rows = shown_rows(search.find(store, query), lang, listing)
        return render_template(
            "search.html",
            q=q[: search.MAX_QUERY],
            rows=rows,
            searched=bool(kind),
            kind_label=text(f"desk_search_kind_{kind}", lang) if kind else "",
            error=error,
            disk_warning=disk_warning(services, lang),
        )

    @bp.get("/confirmations/<int:confirmation_id>")
    def detail_page(confirmation_id: int) -> ResponseReturnValue:
        lang: str = g.lang
        found = store.confirmation(confirmation_id)
        if found is None:
            abort(404)
        subject = f"confirmation:{confirmation_id}"
        user = audit_actor()
        store.audit(user, "confirmation.view", subject)
        raw_xml = ""
        signed_in = current_user()
        if signed_in is not None and signed_in.has("admin"):
            raw = store.confirmation_raw(confirmation_id)
            if raw is not None:
                raw_xml = pretty_xml(raw)
                store.audit(user, "confirmation.raw", subject)
        staff = ""
        if found.method == "visual" and found.visit_id:
            visit = store.visit(found.visit_id)
            staff = display_name_of(store, visit.staff) if visit else ""
        return render_template(
            "confirmation.html",
            detail=confirmation_detail(found, lang, staff, earlier_of(found), today()),
            raw_xml=raw_xml,
            trail=audit_lines(store.audit_for_subject(subject), lang, namer(store, lang)),
            rechecks=recheck_comparisons(store, found, lang),
            disk_warning=disk_warning(services, lang),
        )

    @bp.get("/events")
    def events() -> Response:
        lang: str = g.lang
        subscription = services.bus.subscribe()  # before the snapshot: nothing falls between
        return sse.stream(
            subscription,
            lambda event: staff_wire(event, lang, services),
            [("desk", {**desk_initial(services, lang), "boot": boot}), *central_initial(services)],
        )

    return bp


def disk_warning(services: Services, lang: str) -> str:
    """Words for the desk while the disk is nearly full (its reserve in use), else "": staff
    are warned while answers still fit, not only once a save is refused."""
    disk = services.store.disk_state()
    if disk is None:
        return ""
    reserve_in_use = disk.reserve_bytes > 0 and not disk.reserve_held
    if not reserve_in_use and not 0 <= disk.free_bytes < DISK_FULL_FREE_BYTES:
        return ""
    free = f"{max(disk.free_bytes, 0) / (1024 * 1024):.1f} MB"
    return text("desk_disk_low", lang, free=free)


def central_state(services: Services) -> dict[str, Any]:
    """Whether the online check can be reached, for the desk's banner: since when (Japan time)
    and for how long, counted by this box (the page adds what passes after, by its own clock
    of elapsed time: the two clocks need not agree)."""
    reach = services.reachability
    down_for = reach.down_for_s()
    since = reach.current().down_since
    if down_for is None or since is None:
        return {"down": False}
    return {
        "down": True,
        "down_for_s": round(down_for, 1),
        "minutes": int(down_for // 60),
        "since": since.astimezone(JST).strftime("%H:%M"),
    }


def central_initial(services: Services) -> list[sse.Wire]:
    """The central's reachability for a stream's start."""
    return [("central", central_state(services))]


def desk_initial(services: Services, lang: str) -> dict[str, Any]:
    """The desk's state right now, for the page's first paint and each (re)connect."""
    visit = services.flow.current
    if visit is None:
        return {"visit_id": None, "state": "idle", "label": desk_state_label("idle", lang)}
    state = visit.state.value
    data: dict[str, Any] = {
        "visit_id": visit.id,
        "state": state,
        "label": desk_state_label(state, lang),
    }
    if state == "awaiting_pin" and visit.tries_left is not None:
        data["tries_left"] = visit.tries_left
    data["visual_possible"] = state in VISUAL_STATES
    data["method"] = visit.method
    data["staff"] = display_name_of(services.store, visit.staff) if visit.staff else ""
    return data


def alert_view(alert: DeskAlertRow, lang: str) -> dict[str, Any]:
    """A desk alert as the page shows it: when, what to do; ids and codes only besides."""
    return {
        "id": alert.id,
        "kind": alert.kind,
        "time": alert.created_at.astimezone(JST).strftime("%H:%M"),
        "text": alert_text(alert, lang),
        "visit_id": alert.visit_id,
    }


def alert_text(alert: DeskAlertRow, lang: str) -> str:
    key = f"desk_alert_{alert.kind}"
    if key not in STRINGS:  # a kind this version has no words for: shown, never hidden
        return alert.kind
    if alert.kind in (AlertKind.VISIT_ABORTED, AlertKind.VISIT_FAILED):
        reason, _, more = alert.detail.partition(":")
        detailed = f"{reason}_{more}"
        why = text(detailed, lang) if more and detailed in STRINGS else reason_text(reason, lang)
        return text(key, lang, reason=why)
    return text(key, lang)


def staff_wire(event: Event, lang: str, services: Services | None = None) -> sse.Wire | None:
    """Event → (name, data) for reception; no personal data ever goes on this wire."""
    if isinstance(event, BulkProgress):
        return "bulk_progress", bulk_wire(event, lang)
    if isinstance(event, CentralUp):
        return "central", {"down": False}
    if isinstance(event, CentralDown):
        if services is not None:  # how long, by the holder's clock
            return "central", central_state(services)
        since = event.since.astimezone(JST).strftime("%H:%M")
        return "central", {"down": True, "down_for_s": 0.0, "minutes": 0, "since": since}
    if isinstance(event, VisitStarted):
        return "visit_started", {"visit_id": event.visit_id, "at": event.at.isoformat()}
    if isinstance(event, VisitStateChanged):
        return "visit_state_changed", {
            "visit_id": event.visit_id,
            "state": event.state,
            "label": desk_state_label(event.state, lang),
        }
    if isinstance(event, PinRequested):
        return "pin_requested", {"visit_id": event.visit_id, "tries_left": event.tries_left}
    if isinstance(event, PinBlocked):
        return "pin_blocked", {"visit_id": event.visit_id}
    if isinstance(event, StaffHelpRequested):
        return "staff_help_requested", {"visit_id": event.visit_id}
    if isinstance(event, VisualCheckChosen):
        staff = display_name_of(services.store, event.staff) if services else event.staff
        return "visual_check_chosen", {"visit_id": event.visit_id, "staff": staff}
    if isinstance(event, DeskAlertRaised):
        found = services.store.desk_alert(event.alert_id) if services else None
        if found is None:
            return None
        return "desk_alert", alert_view(found, lang)
    if isinstance(event, DeskAlertAcknowledged):
        return "desk_alert_acknowledged", {"id": event.alert_id, "staff": event.staff}
    if isinstance(event, CardLeftOnReader | CardGraceOver):
        return None  # the desk alert they raise says it (desk_alert)
    if isinstance(event, ConsentRequested):
        return None  # the state change says the patient is answering; the kinds are theirs
    if isinstance(event, VisitAborted | VisitFailed):
        name = "visit_aborted" if isinstance(event, VisitAborted) else "visit_failed"
        # A failure with more to say (which check a card did not pass) says that instead.
        detail = getattr(event, "detail", "")
        key = f"{event.reason}_{detail}"
        return name, {
            "visit_id": event.visit_id,
            "reason": event.reason,
            "text": text(key, lang)
            if detail and key in STRINGS
            else reason_text(event.reason, lang),
        }
    if isinstance(event, ConfirmationStored):
        return "confirmation_stored", {"confirmation_id": event.confirmation_id}
    if isinstance(event, ReaderStatus):
        return "reader_status", {
            "reader": event.reader,
            "available": event.available,
            "card_present": event.card_present,
            "label": desk_state_label("idle" if event.available else "reader_unavailable", lang),
        }
    return None
