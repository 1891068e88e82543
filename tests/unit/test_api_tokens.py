"""Tokens of the read API (device/apitokens.py, sync/store/tokens.py): made, verified, revoked,
each change audited in its own transaction; the secret itself is never stored."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device.apitokens import (
    TOKEN_PREFIX,
    ApiTokens,
    TokenNameError,
    TokenNameProblem,
    token_actor,
)
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store, TokenHashTaken
from web.present import STRINGS

from .test_words import both


class Clock:
    def __init__(self) -> None:
        # A fixed instant, not today: nothing here depends on the date.
        self.now = datetime(2031, 5, 6, 1, 2, 3, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock)
    yield s
    s.close()


@pytest.fixture
def tokens(store: Store, clock: Clock) -> ApiTokens:
    return ApiTokens(store, clock)


def audit_of(store: Store) -> list[tuple[str, str, str, str]]:
    return [(e.actor, e.action, e.subject, e.detail) for e in reversed(store.audit_search())]


def test_a_token_is_made_once_shown_and_stored_only_as_its_hash(
    tokens: ApiTokens, store: Store, tmp_path: Path
) -> None:
    row, secret = tokens.create("  レセコン本院 ", "kanri")
    assert secret.startswith(TOKEN_PREFIX) and len(secret) == len(TOKEN_PREFIX) + 43
    assert row.name == "レセコン本院" and row.created_by == "kanri"
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert not row.revoked and row.last_used_at is None
    assert audit_of(store) == [
        ("kanri", "api_token.created", f"api_token:{row.id}", "レセコン本院")
    ]
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("onshi.db"))
    assert secret.encode() not in raw  # not in the database, its WAL nor the anchor
    assert secret.removeprefix(TOKEN_PREFIX).encode() not in raw


def test_two_tokens_never_share_a_secret(tokens: ApiTokens) -> None:
    secrets = {tokens.create(f"system {i}", "kanri")[1] for i in range(20)}
    assert len(secrets) == 20


def test_verify_finds_the_active_token_and_nothing_else(tokens: ApiTokens) -> None:
    row, secret = tokens.create("chart", "kanri")
    other, _ = tokens.create("other", "kanri")
    found = tokens.verify(secret)
    assert found is not None and found.id == row.id
    for wrong in (
        "",
        secret[:-1],
        secret + "x",
        secret.upper(),
        secret.removeprefix(TOKEN_PREFIX),  # the right random part without the prefix
        TOKEN_PREFIX + "x" * 43,
        row.token_hash,  # the stored hash is no secret
        TOKEN_PREFIX + "a" * 10_000,
    ):
        assert tokens.verify(wrong) is None, wrong[:20]
    assert other.id != row.id


def test_a_revoked_token_opens_nothing_and_its_revocation_is_audited(
    tokens: ApiTokens, store: Store, clock: Clock
) -> None:
    row, secret = tokens.create("chart", "kanri")
    clock.now += timedelta(hours=1)
    assert tokens.revoke(row.id, "kanri2") is True
    assert tokens.verify(secret) is None
    assert tokens.revoke(row.id, "kanri2") is False  # once only: nothing more written
    assert tokens.revoke(9999, "kanri2") is False
    (listed,) = tokens.list()
    assert listed.revoked and listed.revoked_by == "kanri2" and listed.revoked_at == clock.now
    assert audit_of(store)[1:] == [("kanri2", "api_token.revoked", f"api_token:{row.id}", "chart")]


def test_a_use_is_noted_at_most_once_a_minute(
    tokens: ApiTokens, store: Store, clock: Clock
) -> None:
    row, secret = tokens.create("chart", "kanri")
    first = clock.now
    assert tokens.verify(secret) is not None
    assert store.api_token(row.id).last_used_at == first  # type: ignore[union-attr]
    clock.now += timedelta(seconds=59)
    tokens.verify(secret)
    assert store.api_token(row.id).last_used_at == first  # type: ignore[union-attr]
    clock.now += timedelta(seconds=1)
    tokens.verify(secret)
    assert store.api_token(row.id).last_used_at == clock.now  # type: ignore[union-attr]
    clock.now -= timedelta(hours=3)  # the clock was set back: the newest use is what counts
    tokens.verify(secret)
    assert store.api_token(row.id).last_used_at == clock.now  # type: ignore[union-attr]
    assert [a for _, a, _, _ in audit_of(store)] == ["api_token.created"]  # uses: not here


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", TokenNameProblem.EMPTY),
        ("   ", TokenNameProblem.EMPTY),
        ("x" * 41, TokenNameProblem.TOO_LONG),
        ("two\nlines", TokenNameProblem.UNPRINTABLE),
        ("tab\there", TokenNameProblem.UNPRINTABLE),
        ("bell\x07", TokenNameProblem.UNPRINTABLE),
        ("line\u2028sep", TokenNameProblem.UNPRINTABLE),
    ],
)
def test_bad_names_are_refused_and_change_nothing(
    tokens: ApiTokens, store: Store, name: str, problem: TokenNameProblem
) -> None:
    with pytest.raises(TokenNameError) as refused:
        tokens.create(name, "kanri")
    assert refused.value.problem is problem
    assert tokens.list() == [] and audit_of(store) == []


def test_an_active_name_is_taken_a_revoked_one_is_free(tokens: ApiTokens) -> None:
    row, _ = tokens.create("レセコン　本院", "kanri")  # a full-width space is fine
    with pytest.raises(TokenNameError) as refused:
        tokens.create("レセコン　本院", "kanri")
    assert refused.value.problem is TokenNameProblem.TAKEN
    tokens.revoke(row.id, "kanri")
    again, _ = tokens.create("レセコン　本院", "kanri")
    assert [t.id for t in tokens.list()] == [again.id, row.id]  # active first


def test_the_store_refuses_a_hash_twice_and_writes_nothing(store: Store) -> None:
    store.add_api_token("a", "ab" * 32, actor="kanri")
    with pytest.raises(TokenHashTaken):
        store.add_api_token("b", "ab" * 32, actor="kanri")
    assert [t.name for t in store.api_tokens()] == ["a"]
    assert len(store.audit_search()) == 1


def test_requests_are_audited_under_the_token_name(tokens: ApiTokens) -> None:
    row, _ = tokens.create("chart", "kanri")
    assert token_actor(row) == "token:chart"


@pytest.mark.parametrize("problem", list(TokenNameProblem), ids=str)
def test_every_name_problem_has_words(problem: TokenNameProblem) -> None:
    both(STRINGS[f"tokens_name_{problem.value}"])
