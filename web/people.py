"""A person as the pages show them: a staff user's display name, never the username.

Audit entries, acknowledgements and statements record the username (stable, what the audit
filter takes); a page turns it into the display name. A part of the appliance that acts on its
own ("reader", "system", "outbox") is named in words; anything else (an API token's actor, a
user since removed) is shown as recorded.
"""

from __future__ import annotations

from collections.abc import Callable

from sync.store import Store
from web.strings_admin import AUDIT_ACTORS


def actor_text(actor: str, names: dict[str, str], lang: str) -> str:
    """`names`: username → display name, for a page that shows many entries at once."""
    if actor in names:
        return names[actor]
    words = AUDIT_ACTORS.get(actor)
    return actor if words is None else words[1 if lang == "en" else 0]


def display_name(store: Store, actor: str, lang: str) -> str:
    """One actor's name as a person reads it (one look-up)."""
    row = store.user_by_username(actor) if actor else None
    return row.display_name if row is not None else actor_text(actor, {}, lang)


def namer(store: Store, lang: str) -> Callable[[str], str]:
    """Names for many actors, the staff list read once."""
    names = {u.username: u.display_name for u in store.list_users()}
    return lambda actor: actor_text(actor, names, lang)
