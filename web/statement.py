"""被保険者資格申立書 at the desk: a form pre-filled from an earlier answer when there is one,
checked as a whole (every problem shown at once, nothing stored until all is right), then a
printable A4 page in Japanese for the patient's signature. Every open of a stored statement,
and every pre-fill from an answer, is an audited view of personal data."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from device.statement import (
    CHOICES,
    FIELD_NAMES,
    MAX_LENGTH,
    REQUIRED,
    StatementForm,
    StatementRejected,
    Statements,
)
from sync.clock import JST
from web.auth import audit_actor, require_role
from web.present import format_birthdate, text

ID_LIMIT = 2**63 - 1  # SQLite's largest rowid: larger ids in a query are not ids


def _optional_id(raw: str | None) -> int | None:
    if raw is None or not raw.isascii() or not raw.isdigit() or int(raw) > ID_LIMIT:
        return None
    return int(raw)


def create_blueprint(statements: Statements, staff_name: Callable[[str], str]) -> Blueprint:
    """`staff_name`: the display name of the staff member who wrote a statement (the sheet is
    printed in Japanese)."""
    bp = Blueprint("statement", __name__, url_prefix="/statements")
    bp.before_request(require_role("reception"))

    def form_page(
        form: StatementForm,
        *,
        errors: dict[str, str],
        prefilled: bool,
        confirmation_id: int | None,
        visit_id: str,
    ) -> str:
        return render_template(
            "statement_form.html",
            form=form,
            fields=FIELD_NAMES,
            required=REQUIRED,
            choices=CHOICES,
            max_length=MAX_LENGTH,
            errors=errors,
            prefilled=prefilled,
            confirmation_id=confirmation_id or "",
            visit_id=visit_id,
        )

    @bp.get("/new")
    def new() -> ResponseReturnValue:
        confirmation_id = _optional_id(request.args.get("confirmation"))
        form = statements.start(confirmation_id, actor=audit_actor())
        return form_page(
            form,
            errors={},
            prefilled=form != StatementForm(),
            confirmation_id=confirmation_id,
            visit_id=request.args.get("visit", "")[:64],
        )

    @bp.post("")
    def save() -> ResponseReturnValue:
        typed = StatementForm(**{n: request.form.get(n, "")[:500] for n in FIELD_NAMES})
        confirmation_id = _optional_id(request.form.get("confirmation"))
        visit_id = request.form.get("visit", "")[:64] or None
        try:
            stored = statements.save(
                typed, actor=audit_actor(), visit_id=visit_id, confirmation_id=confirmation_id
            )
        except StatementRejected as exc:
            lang: str = g.lang
            errors = {n: text(f"statement_problem_{p.value}", lang) for n, p in exc.errors.items()}
            page = form_page(
                typed,
                errors=errors,
                prefilled=False,
                confirmation_id=confirmation_id,
                visit_id=visit_id or "",
            )
            return page, 422
        return redirect(url_for("statement.show", statement_id=stored.id, saved=1), code=303)

    @bp.get("")
    def awaiting() -> ResponseReturnValue:
        """The follow-up list: statements no online answer has confirmed yet."""
        rows = statements.awaiting(actor=audit_actor())
        return render_template(
            "statement_list.html",
            rows=[
                {
                    "id": r.id,
                    "made": r.created_at.astimezone(JST).strftime("%Y/%m/%d %H:%M"),
                    "name": r.fields.get("name", ""),
                    "birthdate": format_birthdate(r.fields.get("birthdate", "")),
                    "ratio": r.fields.get("ratio", ""),
                    "confirmation_id": r.confirmation_id,
                }
                for r in rows
            ],
            resolved=request.args.get("resolved") == "1",
        )

    @bp.post("/<int:statement_id>/resolve")
    def resolve(statement_id: int) -> ResponseReturnValue:
        if not statements.resolve(statement_id, actor=audit_actor()):
            abort(404)  # not open: confirmed already, or no such statement
        return redirect(url_for("statement.awaiting", resolved=1), code=303)

    @bp.get("/<int:statement_id>")
    def show(statement_id: int) -> ResponseReturnValue:
        found = statements.open(statement_id, actor=audit_actor())
        if found is None:
            abort(404)
        row, form = found
        return render_template(
            "statement_print.html",
            awaiting=statements.count_awaiting(),
            row=row,
            form=form,
            birthdate=format_birthdate(form.birthdate),
            made=row.created_at.astimezone(JST).strftime("%Y-%m-%d %H:%M"),
            made_day=row.created_at.astimezone(JST),
            staff=staff_name(row.actor),
            saved=request.args.get("saved") == "1",
            t_ja=lambda key: text(key, "ja"),
        )

    return bp
