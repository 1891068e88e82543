"""Administration: status at a glance, settings, staff users and the audit log.

Only admins whose session passed the second factor get in (require_role("admin")). Settings are
validated with the same code as load_config and saved in the database; they apply when the
appliance is rebuilt (the restart button sets Services.restart for the CLI's run loop). Every
change is audited by the store or by Accounts, and so is every look at the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from device.accounts import ROLES, AccountError, Accounts, role_label
from device.config import (
    LOCKED_SOURCES,
    SOURCE_DEFAULT,
    Config,
    parse_setting,
    stored_setting_problem,
)
from device.services import Services
from device.settings import GROUPS, LOG_LEVELS, SETTINGS, SETTINGS_BY_NAME, Setting
from sync.auditchain import AuditVerdict
from sync.clock import JST
from sync.codes import CONSENT_KINDS
from sync.store import AuditEntry, Store
from web.auth import audit_actor, current_user, require_role
from web.bilingual import one_language
from web.labels import consent_kind_text
from web.people import actor_text
from web.present import jst_timestamp, text
from web.status_rows import status_row
from web.strings_admin import (
    AUDIT_ACTIONS,
    SETTING_GROUPS,
    SETTING_HELP_JA,
    SETTING_LABELS,
)

AUDIT_PAGE = 100
FIELDS = "_fields"  # the settings a form carries (an unticked checkbox sends nothing)


@dataclass(frozen=True)
class SettingRow:
    setting: Setting
    kind: str  # "bool", "int", "float", "text", "consent_kinds", "choice"
    help: str
    help_en: str
    value: str  # what the form shows: the saved value, else the running one
    running: str  # what the appliance runs with now
    source: str  # SOURCE_* of the running value
    stored: bool  # a value saved on this page exists
    locked: bool  # environment, command or a non-editable setting
    pending: bool  # saved but not yet running
    choices: tuple[tuple[str, str], ...] = ()
    error: str = ""
    label: str = ""  # the setting's name in words (its key is shown beside)
    group: str = ""  # device.settings.GROUPS


@dataclass(frozen=True)
class SettingGroup:
    key: str
    title: str
    rows: tuple[SettingRow, ...]


def grouped(rows: list[SettingRow], lang: str) -> list[SettingGroup]:
    """The rows in the admin page's sections, in GROUPS order; an empty section is left out."""
    out = []
    for key in GROUPS:
        members = tuple(row for row in rows if row.group == key)
        if members:
            title = SETTING_GROUPS[key][1 if lang == "en" else 0]
            out.append(SettingGroup(key, title, members))
    return out


def create_blueprint(services: Services) -> Blueprint:
    accounts = services.accounts
    if accounts is None:
        raise ValueError("the admin blueprint needs Services.accounts")
    store, config = services.store, services.config
    bp = Blueprint("admin", __name__, url_prefix="/admin")
    bp.before_request(require_role("admin"))

    @bp.get("/")
    def index() -> ResponseReturnValue:
        return redirect(url_for("admin.status"), code=302)

    # -- status --------------------------------------------------------------------------
    @bp.get("/status")
    def status() -> str:
        items = [status_row(item) for item in services.status.collect()]
        return render_template("admin_status.html", items=items, at=_now_text(), lang=g.lang)

    @bp.get("/api/status")
    def status_json() -> ResponseReturnValue:
        lang: str = g.lang
        items = [
            {
                "key": item.key,
                "ok": item.ok,
                "level": item.level,
                "level_text": text(f"admin_level_{item.level}", lang),
                "label": item.label_in(lang),
                "label_ja": item.label_ja,
                "label_en": item.label_en,
                "value": item.value_in(lang),
                "detail": item.detail_in(lang),
            }
            for item in map(status_row, services.status.collect())
        ]
        return jsonify(ok=True, at=_now_text(), items=items)

    # -- settings ------------------------------------------------------------------------
    @bp.get("/settings")
    def settings() -> str:
        rows = setting_rows(config, store.stored_settings(), g.lang)
        return render_template(
            "admin_settings.html",
            groups=grouped(rows, g.lang),
            first_error="",
            first_error_label="",
            errors=0,
            saved=request.args.get("saved") == "1",
            invalid=False,
        )

    @bp.post("/settings")
    def save_settings() -> ResponseReturnValue:
        stored = store.stored_settings()
        rows = setting_rows(config, stored, g.lang)
        changes, errors = settings_changes(rows, request.form, g.lang)
        if errors:
            rows = [
                _with(row, request.form, errors.get(row.setting.name, ""))
                if row.setting.name in request.form.getlist(FIELDS)
                else row
                for row in rows
            ]
            # The first refused field, in the page's order, gets the focus.
            ordered = [row for group in grouped(rows, g.lang) for row in group.rows]
            first = next((row for row in ordered if row.error), None)
            page = render_template(
                "admin_settings.html",
                groups=grouped(rows, g.lang),
                first_error=first.setting.name if first is not None else "",
                first_error_label=first.label if first is not None else "",
                errors=len(errors),
                saved=False,
                invalid=True,
            )
            return page, 422
        current = {row.setting.name: row.value for row in rows}
        for name, value in changes.items():
            store.save_setting(name, value, actor=audit_actor(), previous=current[name])
        return redirect(url_for("admin.settings", saved=1), code=303)

    @bp.post("/settings/<name>/reset")
    def reset_setting(name: str) -> ResponseReturnValue:
        if name not in SETTINGS_BY_NAME:
            abort(404)
        store.delete_setting(name, actor=audit_actor())
        return redirect(url_for("admin.settings", saved=1), code=303)

    @bp.post("/restart")
    def restart() -> ResponseReturnValue:
        store.audit(audit_actor(), "appliance.restart", "appliance")
        services.restart.set()
        return render_template(
            "admin_restarting.html", message=text("admin_restarting", g.lang)
        ), 202

    # -- users ---------------------------------------------------------------------------
    @bp.get("/users")
    def users() -> str:
        return _users_page(accounts, done=request.args.get("done") == "1")

    @bp.post("/users")
    def create_user() -> ResponseReturnValue:
        form = request.form

        def create() -> None:
            password = _same_password(form)
            accounts.create_user(
                form.get("username", "").strip(),
                form.get("display_name", ""),
                form.getlist("roles"),
                password,
                actor=audit_actor(),
            )

        return _user_action(accounts, create)

    @bp.post("/users/<int:user_id>/disabled")
    def set_disabled(user_id: int) -> ResponseReturnValue:
        disabled = request.form.get("disabled") == "1"
        me = current_user()
        if disabled and me is not None and me.id == user_id:
            # Not offered on the page; refused here too, in the reader's language.
            return _users_page(accounts, error=text("admin_cannot_disable_self", g.lang)), 422
        return _user_action(
            accounts, lambda: accounts.set_disabled(user_id, disabled, actor=audit_actor())
        )

    @bp.post("/users/<int:user_id>/password")
    def reset_password(user_id: int) -> ResponseReturnValue:
        return _user_action(
            accounts,
            lambda: accounts.reset_password(
                user_id, _same_password(request.form), actor=audit_actor()
            ),
        )

    @bp.post("/users/<int:user_id>/totp-reset")
    def reset_totp(user_id: int) -> ResponseReturnValue:
        return _user_action(
            accounts, lambda: accounts.reset_second_factor(user_id, actor=audit_actor())
        )

    @bp.post("/users/<int:user_id>/roles")
    def set_roles(user_id: int) -> ResponseReturnValue:
        roles = request.form.getlist("roles")
        return _user_action(
            accounts, lambda: accounts.set_roles(user_id, roles, actor=audit_actor())
        )

    # -- audit ---------------------------------------------------------------------------
    @bp.get("/audit")
    def audit() -> ResponseReturnValue:
        return _audit_page(store, accounts, verdict=None)

    @bp.post("/audit/verify")
    def verify() -> ResponseReturnValue:
        verdict = store.verify_audit_detail()
        outcome = (
            f"ok entries={verdict.checked}"
            if verdict.ok
            else f"broken at id={verdict.first_bad_id} after {verdict.checked} entries"
        )
        store.audit(audit_actor(), "audit.verify", "audit", outcome)
        return _audit_page(store, accounts, verdict=verdict)

    return bp


# -- settings helpers ---------------------------------------------------------------------
def value_text(setting: Setting, value: Any) -> str:
    """A typed value as the form and the settings table hold it."""
    if setting.kind is bool:
        return "true" if value else "false"
    text_value = str(value)
    return "" if setting.kind is Path and text_value == "." else text_value


def setting_rows(config: Config, stored: dict[str, str], lang: str) -> list[SettingRow]:
    rows = []
    for setting in SETTINGS:
        running = value_text(setting, getattr(config, setting.name))
        source = config.sources.get(setting.name, SOURCE_DEFAULT)
        locked = not setting.editable or source in LOCKED_SOURCES
        saved = stored.get(setting.name)
        value = saved if saved is not None and not locked else running
        rows.append(
            SettingRow(
                setting=setting,
                kind=_kind(setting),
                help=SETTING_HELP_JA.get(setting.name, setting.help)
                if lang == "ja"
                else setting.help,
                label=_label(setting.name, lang),
                group=setting.group,
                help_en=setting.help,
                value=value,
                running=running,
                source=source,
                stored=saved is not None,
                locked=locked,
                pending=not locked and saved is not None and _differs(setting, saved, running),
                choices=_choices(setting, value, lang),
            )
        )
    return rows


def _label(name: str, lang: str) -> str:
    words = SETTING_LABELS.get(name)
    return name if words is None else words[1 if lang == "en" else 0]


def settings_changes(
    rows: list[SettingRow], form: MultiDict[str, str], lang: str = "ja"
) -> tuple[dict[str, str], dict[str, str]]:
    """({name: new text}, {name: reason in `lang`}) for the settings the form carries; all of
    them validated."""
    by_name = {row.setting.name: row for row in rows}
    changes: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name in dict.fromkeys(form.getlist(FIELDS)):
        row = by_name.get(name)
        if row is None:
            continue  # not a setting: nothing to save, nothing to show
        if row.locked:
            errors[name] = text("admin_not_here", lang)
            continue
        raw = _submitted(row, form)
        try:
            value = value_text(row.setting, parse_setting(row.setting, raw))
        except ValueError as exc:
            errors[name] = one_language(str(exc), lang)
            continue
        problem = stored_setting_problem(name, value)  # the rules start-up applies, too
        if problem and _differs(row.setting, value, row.value):
            errors[name] = one_language(problem, lang)
            continue
        if _differs(row.setting, value, row.value):
            changes[name] = value
    return changes, errors


def _submitted(row: SettingRow, form: MultiDict[str, str]) -> str:
    name = row.setting.name
    if row.kind == "bool":
        return "true" if form.get(name) else "false"
    if row.kind == "consent_kinds":
        return ",".join(form.getlist(name))
    return form.get(name, "").strip()


def _differs(setting: Setting, a: str, b: str) -> bool:
    try:
        return bool(parse_setting(setting, a) != parse_setting(setting, b))
    except ValueError:
        return a != b


def _with(row: SettingRow, form: MultiDict[str, str], error: str) -> SettingRow:
    """The row showing what was typed (so a mistake can be corrected) and why it was refused."""
    if row.locked:
        return SettingRow(**{**row.__dict__, "error": error})
    typed = _submitted(row, form)
    return SettingRow(
        **{
            **row.__dict__,
            "value": typed,
            "error": error,
            "choices": _choices(row.setting, typed, g.lang),
        }
    )


def _kind(setting: Setting) -> str:
    if setting.name == "consent_kinds":
        return "consent_kinds"
    if setting.name in ("language", "log_level"):
        return "choice"
    if setting.kind is bool:
        return "bool"
    if setting.kind is int:
        return "int"
    if setting.kind is float:
        return "float"
    return "text"


def _choices(setting: Setting, value: str, lang: str) -> tuple[tuple[str, str], ...]:
    if setting.name == "language":
        return (("ja", "日本語"), ("en", "English"))
    if setting.name == "log_level":
        return tuple((level, level) for level in LOG_LEVELS)
    if setting.name == "consent_kinds":
        chosen = [k.strip() for k in value.split(",") if k.strip() in CONSENT_KINDS]
        rest = [k for k in CONSENT_KINDS if k not in chosen]
        # The chosen kinds first, in the clinic's order: the form posts them in this order.
        return tuple((k, consent_kind_text(k, lang)) for k in [*chosen, *rest])
    return ()


# -- users helpers ------------------------------------------------------------------------
def _same_password(form: MultiDict[str, str]) -> str:
    password = form.get("password", "")
    if password != form.get("password_again", ""):
        raise AccountError(
            f"{text('admin_passwords_differ', 'ja')} / {text('admin_passwords_differ', 'en')}"
        )
    return password


def _user_action(accounts: Accounts, action: Any) -> ResponseReturnValue:
    try:
        action()
    except AccountError as exc:
        return _users_page(accounts, error=one_language(str(exc), g.lang)), 422
    return redirect(url_for("admin.users", done=1), code=303)


def _users_page(accounts: Accounts, *, done: bool = False, error: str = "") -> str:
    lang: str = g.lang
    users = accounts.list_users()
    me = current_user()
    return render_template(
        "admin_users.html",
        users=users,
        me_id=me.id if me is not None else None,
        roles=[(r, role_label(r, lang)) for r in ROLES],
        role_names={r: role_label(r, lang) for r in ROLES},
        done=done,
        error=error,
        created=lambda at: at.astimezone(JST).strftime("%Y-%m-%d"),
    )


# -- audit helpers ------------------------------------------------------------------------
def _audit_page(
    store: Store, accounts: Accounts, *, verdict: AuditVerdict | None
) -> ResponseReturnValue:
    lang: str = g.lang
    names = {u.username: u.display_name for u in accounts.list_users()}
    args = request.args
    actor = args.get("actor", "").strip()[:64]
    action = args.get("action", "").strip()[:64]
    subject = args.get("subject", "").strip()[:128]
    bad_date = False
    since = until = None
    try:
        first = _day(args.get("from", ""))
        last = _day(args.get("to", ""))
    except ValueError:
        bad_date, first, last = True, None, None
    if first is not None:
        since = datetime.combine(first, time(), JST)
    if last is not None:
        until = datetime.combine(last + timedelta(days=1), time(), JST)
    before = args.get("before", "")
    before_id = int(before) if before.isdigit() else None
    entries = store.audit_search(
        actor=actor,
        action=action,
        subject_prefix=subject,
        since=since,
        until=until,
        before_id=before_id,
        limit=AUDIT_PAGE + 1,
    )
    more = len(entries) > AUDIT_PAGE
    entries = entries[:AUDIT_PAGE]
    filters = {
        "actor": actor,
        "action": action,
        "subject": subject,
        "from": args.get("from", "") if not bad_date else "",
        "to": args.get("to", "") if not bad_date else "",
    }
    shown = " ".join(f"{k}={v}" for k, v in filters.items() if v)
    store.audit(audit_actor(), "audit.view", "audit", f"rows={len(entries)} {shown}".strip()[:300])
    page = render_template(
        "admin_audit.html",
        entries=[_entry_view(e, names, lang) for e in entries],
        actions=[(a, action_text(a, lang)) for a in store.audit_actions()],
        filters=filters,
        newest={k: v for k, v in filters.items() if v},
        older=(
            {**{k: v for k, v in filters.items() if v}, "before": entries[-1].id}
            if more and entries
            else None
        ),
        paged=before_id is not None,
        bad_date=bad_date,
        verdict=verdict,
    )
    return page, 422 if bad_date else 200


def _day(value: str) -> date | None:
    value = value.strip()
    return date.fromisoformat(value) if value else None


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: str
    actor: str  # the username (or the part of the appliance), as the filter takes it
    actor_name: str  # as a person reads it: the display name
    action: str
    action_text: str
    subject: str
    detail: str


def action_text(action: str, lang: str) -> str:
    """An audit action in words; one nobody worded yet shows as its code."""
    words = AUDIT_ACTIONS.get(action)
    return action if words is None else words[1 if lang == "en" else 0]


def _entry_view(entry: AuditEntry, names: dict[str, str], lang: str) -> AuditRow:
    return AuditRow(
        entry.id,
        jst_timestamp(entry.at),
        entry.actor,
        actor_text(entry.actor, names, lang),
        entry.action,
        action_text(entry.action, lang),
        entry.subject,
        entry.detail,
    )


def _now_text() -> str:
    return datetime.now(JST).strftime("%Y-%m-%d %H:%M:%S")
