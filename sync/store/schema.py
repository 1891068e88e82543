"""The schema, as the migrations that build it (sync.store.database runs them at open).

Each migration runs once, in order, inside one transaction with its version row; a migration is
never changed once released: a new one follows it. A migration that rewrites every row of large
tables (`Rewrite`) does so in short transactions, then writes its version row: one
transaction would grow the WAL by the tables' whole size.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rewrite:
    """A migration that rewrites every row of large tables, in short transactions (Database.
    _rewrite): each statement of `before`, then `UPDATE table SET columns` for each (table,
    columns) of `rewrites` a batch of rows at a time, then each statement of `after`; the
    version row last (a store with no more rows than one batch: all in one transaction, as
    any other migration). A start stopped in the middle runs the whole migration again, so
    every part must be safe to run over what it has done already (IF EXISTS, IF NOT EXISTS,
    a rewrite that leaves a rewritten value as it is)."""

    before: str
    rewrites: tuple[tuple[str, str], ...]
    after: str

    def whole(self) -> str:
        """The migration as one script (one transaction): for a store with few rows."""
        updates = "".join(f"UPDATE {table} SET {columns};\n" for table, columns in self.rewrites)
        return self.before + updates + self.after


Migration = str | Rewrite

MIGRATIONS: tuple[Migration, ...] = (
    """
    CREATE TABLE visits (
        id TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        ended_at TEXT NOT NULL,
        reader TEXT NOT NULL,
        method TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        file_id TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE confirmations (
        id INTEGER PRIMARY KEY,
        file_id TEXT NOT NULL UNIQUE,
        visit_id TEXT,
        created_at TEXT NOT NULL,
        care_date TEXT NOT NULL,
        kind TEXT NOT NULL,            -- 'card' or 'numbers'
        method TEXT NOT NULL,          -- 'pin', 'visual', 'numbers'
        source TEXT NOT NULL,          -- 'online' (answered now) or 'cache'
        badge TEXT NOT NULL,
        segment TEXT NOT NULL,
        validity TEXT NOT NULL,
        enc_result BLOB NOT NULL,      -- the result XML as received, encrypted
        bi_kana TEXT NOT NULL DEFAULT '',
        bi_birthdate TEXT NOT NULL DEFAULT '',
        bi_numbers TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX confirmations_created ON confirmations(created_at);
    CREATE INDEX confirmations_kana ON confirmations(bi_kana);
    CREATE INDEX confirmations_birthdate ON confirmations(bi_birthdate);
    CREATE INDEX confirmations_numbers ON confirmations(bi_numbers);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    """,
    """
    ALTER TABLE visits ADD COLUMN staff TEXT NOT NULL DEFAULT '';  -- staff user of a visual check
    CREATE TABLE consents (
        confirmation_id INTEGER NOT NULL REFERENCES confirmations(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        flag TEXT NOT NULL,
        consented_at TEXT NOT NULL DEFAULT '',
        available_until TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (confirmation_id, kind)
    );
    CREATE TABLE clinical_cache (
        confirmation_id INTEGER NOT NULL REFERENCES confirmations(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        fetched_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        enc_data BLOB NOT NULL,
        PRIMARY KEY (confirmation_id, kind)
    );
    CREATE INDEX clinical_cache_expires ON clinical_cache(expires_at);
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        roles TEXT NOT NULL,            -- comma-separated role names
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,    -- sha256 of the cookie value, never the value
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        client TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX sessions_user ON sessions(user_id);
    """,
    """
    ALTER TABLE users ADD COLUMN totp_secret BLOB;  -- encrypted TOTP seed; NULL = none enrolled
    ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;  -- codes work once
    ALTER TABLE users ADD COLUMN password_changed_at TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN second_factor INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE settings (
        name TEXT PRIMARY KEY,          -- a name of device.config.SETTINGS
        value TEXT NOT NULL,            -- as typed in the admin page, validated before saving
        changed_at TEXT NOT NULL,
        changed_by TEXT NOT NULL
    );
    CREATE INDEX audit_subject ON audit(subject);
    CREATE INDEX audit_action ON audit(action);
    """,
    """
    CREATE TABLE store_meta (
        name TEXT PRIMARY KEY,          -- key_check, audit_chain, audit_base
        value TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE retention_state (
        name TEXT PRIMARY KEY,          -- 'newest_seen': the newest row the last purge run saw
        value TEXT NOT NULL,
        changed_at TEXT NOT NULL
    );
    """,
    """
    -- One text form for every instant (sync.store.instant): range queries become plain string
    -- comparisons. audit.at is left as written: it is part of each entry's keyed hash.
    UPDATE visits SET started_at = instant_text(started_at), ended_at = instant_text(ended_at);
    UPDATE confirmations SET created_at = instant_text(created_at);
    UPDATE consents SET consented_at = instant_text(consented_at),
        available_until = instant_text(available_until);
    UPDATE clinical_cache SET fetched_at = instant_text(fetched_at),
        expires_at = instant_text(expires_at);
    UPDATE users SET created_at = instant_text(created_at),
        password_changed_at = instant_text(password_changed_at);
    UPDATE sessions SET created_at = instant_text(created_at), last_seen = instant_text(last_seen);
    UPDATE retention_state SET value = instant_text(value) WHERE name = 'newest_seen';
    UPDATE schema_migrations SET applied_at = instant_text(applied_at);
    -- Written, never read: the answer itself (enc_result) is what is shown; the audit log
    -- says who changed a setting and when.
    ALTER TABLE confirmations DROP COLUMN care_date;
    ALTER TABLE confirmations DROP COLUMN segment;
    ALTER TABLE confirmations DROP COLUMN validity;
    ALTER TABLE settings DROP COLUMN changed_at;
    ALTER TABLE settings DROP COLUMN changed_by;
    ALTER TABLE retention_state DROP COLUMN changed_at;
    """,
    """
    -- 被保険者資格申立書 (sync/store/statements.py): the form as encrypted JSON bound to ref.
    -- confirmation_id has no foreign key: the answer it was pre-filled from may be purged first.
    CREATE TABLE statements (
        id INTEGER PRIMARY KEY,
        ref TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        visit_id TEXT,
        confirmation_id INTEGER,
        enc_body BLOB NOT NULL
    );
    CREATE INDEX statements_created_at ON statements (created_at);
    """,
    """
    -- The re-check queue (sync/store/outbox.py): requests the central could not answer because
    -- it was unavailable, asked again after recovery. One row per request (file_id), the
    -- request XML encrypted and bound to it; emptied once the item is done.
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        file_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,             -- 'numbers' (the kinds of confirmations.kind)
        method TEXT NOT NULL,
        actor TEXT NOT NULL,            -- who asked first; the answer is stored under them
        visit_id TEXT,
        charged_id INTEGER,             -- the confirmation shown as 前回確認 when it was queued
        enc_request BLOB NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at TEXT NOT NULL,
        state TEXT NOT NULL,            -- 'queued', 'answered', 'ended' (refused, unreadable)
        outcome TEXT NOT NULL DEFAULT '',   -- the end reason of an ended item, the last failure
        answer_id INTEGER,              -- the confirmation that answered it
        done_at TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX outbox_due ON outbox(state, next_at);
    -- A re-check whose answer differs from what was charged, until a person acknowledges it.
    CREATE TABLE outbox_alerts (
        id INTEGER PRIMARY KEY,
        outbox_id INTEGER NOT NULL UNIQUE,
        earlier_id INTEGER NOT NULL,    -- the confirmation charged (前回確認)
        answer_id INTEGER NOT NULL,     -- the re-check's answer
        changes TEXT NOT NULL,          -- comma-separated AnswerChange values
        created_at TEXT NOT NULL,
        acknowledged_by TEXT NOT NULL DEFAULT '',
        acknowledged_at TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX outbox_alerts_open ON outbox_alerts(acknowledged_at);
    """,
    """
    -- Offline card visits (issue 10). bi_card: a keyed hash of the card's certificate (issuer
    -- and serial number), so an outage visit finds this card's last online answer (前回確認);
    -- earlier_id: on a row stored offline (source 'offline', no answer of its own), that
    -- answer.
    ALTER TABLE confirmations ADD COLUMN bi_card TEXT NOT NULL DEFAULT '';
    ALTER TABLE confirmations ADD COLUMN earlier_id INTEGER;
    CREATE INDEX confirmations_bi_card ON confirmations(bi_card, created_at);
    """,
    """
    -- A 申立書 stands in for an online answer until one is had (issue 10): it stays open on the
    -- desk until a later online answer of the same card closes it (answer_id), or a person
    -- marks it confirmed by other means (resolved_by).
    ALTER TABLE statements ADD COLUMN answer_id INTEGER;
    ALTER TABLE statements ADD COLUMN resolved_at TEXT NOT NULL DEFAULT '';
    ALTER TABLE statements ADD COLUMN resolved_by TEXT NOT NULL DEFAULT '';
    CREATE INDEX statements_open ON statements (resolved_at, created_at);
    """,
    """
    -- An alert for a re-check given up unanswered has no answer, and no earlier answer unless
    -- its item re-checked one: both ids become nullable (SQLite changes a column's NOT NULL
    -- only by rebuilding the table).
    CREATE TABLE outbox_alerts_new (
        id INTEGER PRIMARY KEY,
        outbox_id INTEGER NOT NULL UNIQUE,
        earlier_id INTEGER,             -- the confirmation charged (前回確認), if any
        answer_id INTEGER,              -- the re-check's answer; NULL when given up
        changes TEXT NOT NULL,          -- comma-separated AnswerChange values, or 'unanswered'
        created_at TEXT NOT NULL,
        acknowledged_by TEXT NOT NULL DEFAULT '',
        acknowledged_at TEXT NOT NULL DEFAULT ''
    );
    INSERT INTO outbox_alerts_new SELECT id, outbox_id, NULLIF(earlier_id, 0),
        NULLIF(answer_id, 0), changes, created_at, acknowledged_by, acknowledged_at
        FROM outbox_alerts;
    DROP TABLE outbox_alerts;
    ALTER TABLE outbox_alerts_new RENAME TO outbox_alerts;
    CREATE INDEX outbox_alerts_open ON outbox_alerts(acknowledged_at);
    """,
    """
    -- Face files for the receipt computer (sync/store/exports.py): one row per card visit's
    -- answer to write into the export folder, queued in the answer's own transaction and
    -- marked once the file is in place, so no file is lost to a crash or an unreachable share.
    CREATE TABLE exports (
        id INTEGER PRIMARY KEY,
        confirmation_id INTEGER NOT NULL UNIQUE
            REFERENCES confirmations(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        written_at TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX exports_pending ON exports(written_at, id);
    """,
    """
    -- Face files the official terminal wrote (device/facewatch.py): each handled once, by name
    -- and by content (a copy under another name is the same visit); confirmation_id is the
    -- answer stored from it, NULL when it was not stored (another institution's, unreadable).
    CREATE TABLE face_files (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        sha256 TEXT NOT NULL,
        confirmation_id INTEGER REFERENCES confirmations(id) ON DELETE SET NULL,
        outcome TEXT NOT NULL,          -- 'stored', 'duplicate', 'ignored', 'unreadable'
        seen_at TEXT NOT NULL
    );
    CREATE INDEX face_files_sha256 ON face_files(sha256);
    """,
    """
    -- Tokens of the read API for other systems (sync/store/tokens.py, issue 11): only the
    -- SHA-256 of each secret is kept; a revoked token stays listed (who made and ended it).
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at TEXT NOT NULL DEFAULT '',
        revoked_by TEXT NOT NULL DEFAULT '',
        last_used_at TEXT NOT NULL DEFAULT ''
    );
    """,
    """
    -- A numbers check queued while the central was down for a card visit kept offline
    -- (「番号で照会」 on its row): the card the answer is to be linked to when the re-check
    -- is answered (device/outbox.py), as an answer asked at once would have been.
    ALTER TABLE outbox ADD COLUMN card_from INTEGER
        REFERENCES confirmations(id) ON DELETE SET NULL;
    """,
    """
    -- Drug / checkup history as the PDF the central or terminal made of it (FileCategory 1;
    -- sync/store/clinicaldocs.py, issue 11): encrypted, bound to (confirmation, kind), kept
    -- no longer than the consent it was fetched under, gone with its confirmation.
    CREATE TABLE clinical_documents (
        confirmation_id INTEGER NOT NULL REFERENCES confirmations(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        media_type TEXT NOT NULL,
        fetched_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        enc_data BLOB NOT NULL,
        PRIMARY KEY (confirmation_id, kind)
    );
    CREATE INDEX clinical_documents_expires ON clinical_documents(expires_at);
    """,
    """
    -- Desk alerts (sync/store/deskalerts.py, issue 12): what a visit left for staff to act on,
    -- kept until a person acknowledges it (who, by user and display name, and when).
    CREATE TABLE desk_alerts (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,             -- a device.deskalerts.AlertKind value
        visit_id TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',    -- a code saying more (an end reason, a reader)
        created_at TEXT NOT NULL,
        acknowledged_by TEXT NOT NULL DEFAULT '',
        acknowledged_name TEXT NOT NULL DEFAULT '',
        acknowledged_at TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX desk_alerts_open ON desk_alerts(acknowledged_at, id);
    """,
    """
    -- Search by part of a name or by insurer alone (web/search.py, issue 12): keyed hashes of
    -- the kana surname, the kana given name and the insurer number. Rows stored before are
    -- indexed once at open (sync/store/visits.py backfill_search_indexes).
    ALTER TABLE confirmations ADD COLUMN bi_kana_family TEXT NOT NULL DEFAULT '';
    ALTER TABLE confirmations ADD COLUMN bi_kana_given TEXT NOT NULL DEFAULT '';
    ALTER TABLE confirmations ADD COLUMN bi_insurer TEXT NOT NULL DEFAULT '';
    ALTER TABLE confirmations ADD COLUMN search_indexed INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX confirmations_kana_family ON confirmations(bi_kana_family);
    CREATE INDEX confirmations_kana_given ON confirmations(bi_kana_given);
    CREATE INDEX confirmations_insurer ON confirmations(bi_insurer);
    """,
    """
    -- Appointments from the receipt computer's list (sync/store/appointments.py, issue 14):
    -- the personal fields one encrypted document bound to `ref`, keyed hashes to find a
    -- patient on arrival; the night-before pre-check's class and answer (encrypted).
    CREATE TABLE appointments (
        id INTEGER PRIMARY KEY,
        ref TEXT NOT NULL UNIQUE,
        day TEXT NOT NULL,              -- YYYYMMDD in Japan
        at TEXT NOT NULL,               -- the appointment's instant
        bi_patient TEXT NOT NULL,
        bi_numbers TEXT NOT NULL,
        bi_birthdate TEXT NOT NULL,
        enc_person BLOB NOT NULL,
        imported_at TEXT NOT NULL,
        imported_by TEXT NOT NULL,
        source TEXT NOT NULL,           -- 'upload' (the desk page) or 'api'
        precheck_class TEXT NOT NULL DEFAULT '',
        prechecked_at TEXT NOT NULL DEFAULT '',
        enc_precheck BLOB,
        UNIQUE (day, bi_patient, at)
    );
    CREATE INDEX appointments_day ON appointments(day, at, id);
    CREATE INDEX appointments_numbers ON appointments(day, bi_numbers, bi_birthdate);
    CREATE INDEX appointments_at ON appointments(at);
    """,
    """
    -- Bulk pre-check runs (sync/store/bulkruns.py, issue 14): one run checks one day's
    -- appointments in batches; each batch keeps its file id (the idempotency key of its upload)
    -- and, once received, its reception number, so a restart in the middle polls the same
    -- number and never uploads again. No personal data: appointment ids and codes only.
    CREATE TABLE bulk_runs (
        id INTEGER PRIMARY KEY,
        day TEXT NOT NULL,              -- YYYYMMDD (clinic time) of the appointments checked
        trigger TEXT NOT NULL,          -- 'nightly' or 'now'
        actor TEXT NOT NULL,
        state TEXT NOT NULL,            -- 'running', 'done', 'failed'
        total INTEGER NOT NULL,
        done INTEGER NOT NULL DEFAULT 0,
        normal INTEGER NOT NULL DEFAULT 0,
        attention INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        finished_at TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX bulk_runs_day ON bulk_runs(day, id);
    CREATE TABLE bulk_batches (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES bulk_runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        file_id TEXT NOT NULL UNIQUE,   -- ArbitraryFileIdentifier of the upload
        appointment_ids TEXT NOT NULL,  -- comma-separated appointment ids, in entry order
        state TEXT NOT NULL,            -- 'pending', 'polling', 'done', 'failed'
        reception_number TEXT NOT NULL DEFAULT '',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at TEXT NOT NULL,
        waiting INTEGER NOT NULL DEFAULT 0, -- the last attempt found the central unavailable
        reason TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL
    );
    CREATE INDEX bulk_batches_due ON bulk_batches(state, next_at);
    -- 照会番号 registered with the central: a keyed hash of the patient number with the card's
    -- numbers (a new card registers again); nothing readable.
    CREATE TABLE reference_registrations (
        bi_reference TEXT PRIMARY KEY,
        registered_at TEXT NOT NULL
    );
    """,
    """
    -- Lists without parsing (sync/rowsummary.py, issue 15): what a list row shows of an answer,
    -- a compact summary encrypted and bound to its row, made when the answer is saved; and
    -- answers kept deflated (`packed` 1) before encryption. Rows stored before get both once
    -- at open (sync/store/visits.py backfill_summaries).
    ALTER TABLE confirmations ADD COLUMN enc_summary BLOB;
    ALTER TABLE confirmations ADD COLUMN packed INTEGER NOT NULL DEFAULT 0;
    """,
    """
    -- Issue 14: the monthly 医療扶助 bulk (OQSmutic) is a bulk run of
    -- kind 'aid' (its day is the treatment month, YYYYMM; its batches list one appointment per
    -- recipient); its answers are kept per recipient and month (sync/store/aidtickets.py): a
    -- keyed hash of (公費負担者番号, 受給者番号, birth date), the validity, the encrypted unit.
    ALTER TABLE bulk_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'precheck';
    CREATE TABLE aid_tickets (
        bi_recipient TEXT NOT NULL,
        month TEXT NOT NULL,            -- MedicalTreatmentMonth YYYYMM
        status TEXT NOT NULL,           -- QualificationValidity, '' when not answered
        enc_answer BLOB NOT NULL,
        checked_at TEXT NOT NULL,
        PRIMARY KEY (bi_recipient, month)
    );
    CREATE INDEX aid_tickets_checked ON aid_tickets(checked_at);
    """,
    """
    -- Retention purges delete in small batches by an indexed range (issue 15): visits by the
    -- time they ended (confirmations have had confirmations_created since migration 1). A
    -- deleted confirmation sets NULL in face_files and outbox.card_from (ON DELETE SET NULL):
    -- without these indexes each deleted row scanned both tables.
    CREATE INDEX visits_ended ON visits(ended_at);
    CREATE INDEX face_files_confirmation ON face_files(confirmation_id);
    CREATE INDEX outbox_card_from ON outbox(card_from);
    """,
    Rewrite(
        # Keyed hashes in less space (issue 15): the look-up columns of answers and
        # appointments keep the first 16 bytes of each blind index as a BLOB (TAG_BYTES in
        # sync/fieldcrypt.py says why 16 is enough) instead of its 64 hex digits, in the rows
        # and in their indexes; no value is the empty BLOB. The columns stay declared TEXT:
        # SQLite keeps a BLOB as it is whatever a column's declared type, and changing the type
        # would rebuild confirmations, which other tables reference. The indexes go first and
        # are built once after the rows (faster than updating them row by row, and a smaller
        # WAL); tag_of_stored (sync.fieldcrypt) leaves a value it has cut as it is.
        # aid_tickets and reference_registrations keep their whole hex keys: few rows, and an
        # aid ticket's key is part of its answer's encryption binding.
        before="""
        DROP INDEX IF EXISTS confirmations_kana;
        DROP INDEX IF EXISTS confirmations_birthdate;
        DROP INDEX IF EXISTS confirmations_numbers;
        DROP INDEX IF EXISTS confirmations_bi_card;
        DROP INDEX IF EXISTS confirmations_kana_family;
        DROP INDEX IF EXISTS confirmations_kana_given;
        DROP INDEX IF EXISTS confirmations_insurer;
        DROP INDEX IF EXISTS appointments_numbers;
        """,
        rewrites=(
            (
                "confirmations",
                "bi_kana = tag_of_stored(bi_kana), bi_birthdate = tag_of_stored(bi_birthdate),"
                " bi_numbers = tag_of_stored(bi_numbers), bi_card = tag_of_stored(bi_card),"
                " bi_kana_family = tag_of_stored(bi_kana_family),"
                " bi_kana_given = tag_of_stored(bi_kana_given),"
                " bi_insurer = tag_of_stored(bi_insurer)",
            ),
            (
                "appointments",
                "bi_patient = tag_of_stored(bi_patient), bi_numbers = tag_of_stored(bi_numbers),"
                " bi_birthdate = tag_of_stored(bi_birthdate)",
            ),
        ),
        after="""
        CREATE INDEX IF NOT EXISTS confirmations_kana ON confirmations(bi_kana);
        CREATE INDEX IF NOT EXISTS confirmations_birthdate ON confirmations(bi_birthdate);
        CREATE INDEX IF NOT EXISTS confirmations_numbers ON confirmations(bi_numbers);
        CREATE INDEX IF NOT EXISTS confirmations_bi_card ON confirmations(bi_card, created_at);
        CREATE INDEX IF NOT EXISTS confirmations_kana_family ON confirmations(bi_kana_family);
        CREATE INDEX IF NOT EXISTS confirmations_kana_given ON confirmations(bi_kana_given);
        CREATE INDEX IF NOT EXISTS confirmations_insurer ON confirmations(bi_insurer);
        CREATE INDEX IF NOT EXISTS appointments_numbers
            ON appointments(day, bi_numbers, bi_birthdate);
        """,
    ),
)
