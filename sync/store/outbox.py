"""The re-check queue (outbox): requests the central could not answer because it was
unavailable, kept until they are asked again, and the alerts for re-checks whose answer
differs from what was charged.

One row per request, unique by its file identifier (ArbitraryFileIdentifier), so queueing the
same request twice is a no-op. The request XML is encrypted, bound to its file identifier like
the stored answers, and emptied once the item is done: an answered row names no one. Every step
is written with its audit entry in one transaction.

An item still unanswered after the give-up time ends ("given up") with an alert that stays
until a person acknowledges it: someone must check that patient by other means. Its request is
kept until then (the desk shows whom to check) and emptied by the acknowledgement. Such an
alert has no answer (NULL), and no earlier answer unless the item re-checked one; its
`changes` is UNANSWERED.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from sync.store.auditlog import AuditLog
from sync.store.database import Database, Part, reserve_on_full
from sync.store.instant import instant_of, instant_text, optional_instant_of
from sync.xmlmsg import QualificationRequest, build_request, parse_request

# Item states.
QUEUED, ANSWERED, ENDED = "queued", "answered", "ended"
# The `changes` of an alert for an item given up unanswered (not an AnswerChange: no answer).
UNANSWERED = "unanswered"


@dataclass(frozen=True)
class OutboxItem:
    id: int
    file_id: str
    kind: str
    method: str
    actor: str
    visit_id: str | None
    charged_id: int | None  # the confirmation shown as 前回確認 when it was queued
    card_from: int | None  # a card visit kept offline whose card the answer is about
    created_at: datetime
    attempts: int
    next_at: datetime
    state: str  # QUEUED, ANSWERED, ENDED
    outcome: str  # an ended item's reason; a queued one's last failure
    answer_id: int | None
    request: QualificationRequest | None  # None once done (the request is emptied)


@dataclass(frozen=True)
class OutboxAlert:
    """A re-check whose answer differs from the one charged, or that was given up unanswered,
    until a person acknowledges it. `earlier_id` is None when nothing was charged before,
    `answer_id` None when the item was given up."""

    id: int
    outbox_id: int
    earlier_id: int | None
    answer_id: int | None
    changes: tuple[str, ...]
    created_at: datetime
    acknowledged_by: str
    acknowledged_at: datetime | None

    @property
    def unanswered(self) -> bool:
        """The re-check was given up: a person must check this patient by other means."""
        return UNANSWERED in self.changes


@dataclass(frozen=True)
class OutboxCounts:
    queued: int
    answered: int
    ended: int
    open_alerts: int


_ITEM_COLUMNS = (
    "id, file_id, kind, method, actor, visit_id, charged_id, card_from, created_at, attempts,"
    " next_at, state, outcome, answer_id, enc_request"
)
_ALERT_COLUMNS = (
    "id, outbox_id, earlier_id, answer_id, changes, created_at, acknowledged_by, acknowledged_at"
)


def _request_binding(file_id: str) -> str:
    return f"outbox.enc_request:{file_id}"


class Outbox(Part):
    def __init__(self, database: Database, *, audit: AuditLog) -> None:
        super().__init__(database)
        self._audit = audit

    @reserve_on_full
    def enqueue(
        self,
        request: QualificationRequest,
        *,
        kind: str,
        method: str,
        actor: str,
        visit_id: str | None = None,
        charged_id: int | None = None,
        card_from: int | None = None,
        reason: str = "",
    ) -> bool:
        """Queue `request` (True), or nothing when its file identifier is already queued
        (False). Inside a caller's write block it joins that transaction."""
        now = self._now()
        blob = self._database.cipher.encrypt(
            build_request(request), _request_binding(request.file_id)
        )
        with self._database.write() as db:
            cursor = db.execute(
                "INSERT INTO outbox (file_id, kind, method, actor, visit_id, charged_id,"
                " card_from, enc_request, created_at, next_at, state, outcome)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(file_id) DO NOTHING",
                [
                    request.file_id,
                    kind,
                    method,
                    actor,
                    visit_id,
                    charged_id,
                    card_from,
                    blob,
                    instant_text(now),
                    instant_text(now),
                    QUEUED,
                    reason,
                ],
            )
            if cursor.rowcount == 0:
                return False
            detail = f"{kind} {reason}".strip()
            self._audit.append(actor, "outbox.queued", f"outbox:{cursor.lastrowid}", detail)
        return True

    def item(self, outbox_id: int) -> OutboxItem | None:
        rows = self._items("WHERE id = ?", [outbox_id])
        return rows[0] if rows else None

    def item_by_file_id(self, file_id: str) -> OutboxItem | None:
        rows = self._items("WHERE file_id = ?", [file_id])
        return rows[0] if rows else None

    def due(self, now: datetime, limit: int) -> list[OutboxItem]:
        """Queued items whose next attempt is due, oldest first."""
        return self._items(
            "WHERE state = ? AND next_at <= ? ORDER BY created_at, id LIMIT ?",
            [QUEUED, instant_text(now), limit],
        )

    def items(self, limit: int = 200) -> list[OutboxItem]:
        """The newest items of any state, newest first."""
        return self._items("ORDER BY created_at DESC, id DESC LIMIT ?", [limit])

    def answer_for(self, file_id: str) -> int | None:
        """The id of the confirmation stored under `file_id`, if one is (the store refuses a
        second answer to the same file identifier)."""
        with self._database.lock:
            row = self._db.execute(
                "SELECT id FROM confirmations WHERE file_id = ?", [file_id]
            ).fetchone()
        return None if row is None else int(row[0])

    @reserve_on_full
    def retry(self, outbox_id: int, *, next_at: datetime, reason: str, actor: str) -> None:
        """One more failed attempt; the next no sooner than `next_at`."""
        with self._database.write() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_at = ?, outcome = ?"
                " WHERE id = ? AND state = ?",
                [instant_text(next_at), reason, outbox_id, QUEUED],
            )
            self._audit.append(
                actor,
                "outbox.retry",
                f"outbox:{outbox_id}",
                f"{reason} next={instant_text(next_at)}",
            )

    @reserve_on_full
    def end(self, outbox_id: int, *, reason: str, actor: str) -> None:
        """The central answered with a refusal or something unreadable: asking again would get
        the same, so the item ends with that reason (its request is emptied)."""
        now = instant_text(self._now())
        with self._database.write() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, state = ?, outcome = ?, done_at = ?,"
                " enc_request = X'' WHERE id = ? AND state = ?",
                [ENDED, reason, now, outbox_id, QUEUED],
            )
            self._audit.append(actor, "outbox.ended", f"outbox:{outbox_id}", reason)

    def queued_by(self, created_by: datetime, limit: int) -> list[OutboxItem]:
        """Queued items created at or before `created_by` (due or not), oldest first."""
        return self._items(
            "WHERE state = ? AND created_at <= ? ORDER BY created_at, id LIMIT ?",
            [QUEUED, instant_text(created_by), limit],
        )

    @reserve_on_full
    def give_up(self, outbox_id: int, *, reason: str, actor: str) -> int | None:
        """End a still queued item unanswered and open its alert (one transaction); the
        alert's id, or None when the item is no longer queued. The request is kept until the
        alert is acknowledged: the desk must see whom to check."""
        now = instant_text(self._now())
        with self._database.write() as db:
            cursor = db.execute(
                "UPDATE outbox SET state = ?, outcome = ?, done_at = ? WHERE id = ? AND state = ?",
                [ENDED, reason, now, outbox_id, QUEUED],
            )
            if cursor.rowcount == 0:
                return None
            self._audit.append(actor, "outbox.gave_up", f"outbox:{outbox_id}", reason)
            alert_id = int(
                db.execute(
                    "INSERT INTO outbox_alerts (outbox_id, earlier_id, answer_id, changes,"
                    " created_at) SELECT id, charged_id, NULL, ?, ? FROM outbox WHERE id = ?",
                    [UNANSWERED, now, outbox_id],
                ).lastrowid
                or 0
            )
            self._audit.append(actor, "outbox.alert", f"outbox_alert:{alert_id}", UNANSWERED)
        return alert_id

    @reserve_on_full
    def answered(
        self,
        outbox_id: int,
        *,
        answer_id: int,
        changes: tuple[str, ...],
        earlier_id: int | None,
        actor: str,
        recovered: bool = False,
    ) -> int | None:
        """Mark an item answered by confirmation `answer_id` (its request is emptied) and, when
        the answer differs from the one charged (`changes`), open an alert — one transaction.
        Returns the alert's id, or None. Marking an item that is no longer queued does nothing.
        `recovered`: the answer was stored earlier and the item is only marked now."""
        now = instant_text(self._now())
        with self._database.write() as db:
            cursor = db.execute(
                "UPDATE outbox SET state = ?, answer_id = ?, done_at = ?, outcome = '',"
                " attempts = attempts + ?, enc_request = X'' WHERE id = ? AND state = ?",
                [ANSWERED, answer_id, now, 0 if recovered else 1, outbox_id, QUEUED],
            )
            if cursor.rowcount == 0:
                return None
            self._audit.append(
                actor,
                "outbox.recovered" if recovered else "outbox.answered",
                f"outbox:{outbox_id}",
                f"confirmation:{answer_id}",
            )
            if not changes or earlier_id is None:
                return None
            alert_id = int(
                db.execute(
                    "INSERT INTO outbox_alerts (outbox_id, earlier_id, answer_id, changes,"
                    " created_at) VALUES (?,?,?,?,?)",
                    [outbox_id, earlier_id, answer_id, ",".join(changes), now],
                ).lastrowid
                or 0
            )
            self._audit.append(actor, "outbox.alert", f"outbox_alert:{alert_id}", ",".join(changes))
        return alert_id

    def alerts(self, *, open_only: bool = True, limit: int = 200) -> list[OutboxAlert]:
        where = "WHERE acknowledged_at = ''" if open_only else ""
        return self._alerts(f"{where} ORDER BY created_at, id LIMIT ?", [limit])

    def alert(self, alert_id: int) -> OutboxAlert | None:
        rows = self._alerts("WHERE id = ?", [alert_id])
        return rows[0] if rows else None

    def alerts_for_confirmation(self, confirmation_id: int) -> list[OutboxAlert]:
        """Alerts in which `confirmation_id` is the earlier answer or the re-check's."""
        return self._alerts(
            "WHERE earlier_id = ? OR answer_id = ? ORDER BY id", [confirmation_id] * 2
        )

    @reserve_on_full
    def acknowledge(self, alert_id: int, *, actor: str) -> bool:
        """A person has seen the changed answer; False when there is no open alert by that id."""
        now = instant_text(self._now())
        with self._database.write() as db:
            cursor = db.execute(
                "UPDATE outbox_alerts SET acknowledged_by = ?, acknowledged_at = ?"
                " WHERE id = ? AND acknowledged_at = ''",
                [actor, now, alert_id],
            )
            if cursor.rowcount == 0:
                return False
            # A given-up item kept its request for the person who now took it over.
            db.execute(
                "UPDATE outbox SET enc_request = X'' WHERE state != ? AND id ="
                " (SELECT outbox_id FROM outbox_alerts WHERE id = ?)",
                [QUEUED, alert_id],
            )
            self._audit.append(actor, "outbox.alert_acknowledged", f"outbox_alert:{alert_id}", "")
        return True

    def counts(self) -> OutboxCounts:
        with self._database.lock:
            by_state = dict(
                self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
            )
            open_alerts = self._db.execute(
                "SELECT COUNT(*) FROM outbox_alerts WHERE acknowledged_at = ''"
            ).fetchone()[0]
        return OutboxCounts(
            int(by_state.get(QUEUED, 0)),
            int(by_state.get(ANSWERED, 0)),
            int(by_state.get(ENDED, 0)),
            int(open_alerts),
        )

    def _items(self, where: str, params: list[object]) -> list[OutboxItem]:
        with self._database.lock:
            rows = self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM outbox {where}", params
            ).fetchall()
        cipher = self._database.cipher
        return [
            OutboxItem(
                id=row[0],
                file_id=row[1],
                kind=row[2],
                method=row[3],
                actor=row[4],
                visit_id=row[5],
                charged_id=row[6],
                card_from=row[7],
                created_at=instant_of(row[8]),
                attempts=row[9],
                next_at=instant_of(row[10]),
                state=row[11],
                outcome=row[12],
                answer_id=row[13],
                request=parse_request(cipher.decrypt(row[14], _request_binding(row[1])))
                if row[14]
                else None,
            )
            for row in rows
        ]

    def _alerts(self, where: str, params: list[object]) -> list[OutboxAlert]:
        with self._database.lock:
            rows = self._db.execute(
                f"SELECT {_ALERT_COLUMNS} FROM outbox_alerts {where}", params
            ).fetchall()
        return [
            OutboxAlert(
                id=row[0],
                outbox_id=row[1],
                earlier_id=row[2],
                answer_id=row[3],
                changes=tuple(c for c in str(row[4]).split(",") if c),
                created_at=instant_of(row[5]),
                acknowledged_by=row[6],
                acknowledged_at=optional_instant_of(row[7]),
            )
            for row in rows
        ]

    # -- retention (sync/store/retention.py runs these inside its one transaction) --------
    def aged(self, bound: str) -> tuple[tuple[int, int], tuple[int, int]]:
        """What a purge before `bound` would delete, beside each table's size:
        ((finished items, all items), (acknowledged alerts, all alerts))."""
        with self._database.lock:
            items = self._db.execute(
                f"SELECT COALESCE(SUM({_PURGEABLE_ITEM}), 0), COUNT(*) FROM outbox",
                [ANSWERED, ENDED, bound],
            ).fetchone()
            alerts = self._db.execute(
                f"SELECT COALESCE(SUM({_PURGEABLE_ALERT}), 0), COUNT(*) FROM outbox_alerts",
                [bound],
            ).fetchone()
        return (int(items[0]), int(items[1])), (int(alerts[0]), int(alerts[1]))

    def purge_before(self, bound: str, limit: int = -1) -> tuple[int, int]:
        """Delete the items finished (answered or ended) before `bound` whose alert, if any, a
        person has acknowledged, and the alerts acknowledged before `bound`; at most `limit`
        of each (-1: all); (items, alerts). A queued item and an open alert are never
        deleted. Inside a caller's write block it joins that transaction; the audit entry is
        the caller's."""
        with self._database.write() as db:
            items = db.execute(
                f"DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE {_PURGEABLE_ITEM}"
                " LIMIT ?)",
                [ANSWERED, ENDED, bound, limit],
            ).rowcount
            alerts = db.execute(
                "DELETE FROM outbox_alerts WHERE id IN (SELECT id FROM outbox_alerts"
                f" WHERE {_PURGEABLE_ALERT} LIMIT ?)",
                [bound, limit],
            ).rowcount
        return int(items), int(alerts)


# An item finished before the bound, with no alert still waiting for a person.
_PURGEABLE_ITEM = (
    "(state IN (?, ?) AND done_at != '' AND done_at < ? AND NOT EXISTS"
    " (SELECT 1 FROM outbox_alerts AS a WHERE a.outbox_id = outbox.id"
    " AND a.acknowledged_at = ''))"
)
# An alert a person acknowledged before the bound.
_PURGEABLE_ALERT = "(acknowledged_at != '' AND acknowledged_at < ?)"


def encrypted_sample(db: sqlite_utils.Database) -> tuple[bytes, str] | None:
    """A queued request and its binding, for the key check (none before the table exists:
    a store opened at an older schema, as the migration tests do)."""
    if not db["outbox"].exists():
        return None
    row = db.execute(
        "SELECT file_id, enc_request FROM outbox WHERE enc_request != X'' LIMIT 1"
    ).fetchone()
    return None if row is None else (bytes(row[1]), _request_binding(str(row[0])))
