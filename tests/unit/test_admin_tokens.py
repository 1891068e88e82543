"""The admin page of the read API's tokens (web/admin_tokens.py): admins only, the secret shown
once in the answer to the POST and never again, revocation behind CSRF, every change audited."""

from __future__ import annotations

import re
from pathlib import Path

from device.apitokens import TOKEN_PREFIX

from .test_admin import DESK, Admin, admin, build, signed_in, store

__all__ = ["admin", "store"]  # fixtures used here, defined beside the other admin tests

PAGE = "/admin/tokens/"
SECRET = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43}")


def test_only_admins_with_a_second_factor_get_in(admin: Admin, tmp_path: Path) -> None:
    anonymous = admin.client.application.test_client()
    r = anonymous.get(PAGE)
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    desk = signed_in(admin.client.application.test_client(), admin.accounts, DESK)
    assert desk.get(PAGE).status_code == 403
    assert desk.post(PAGE, data={"name": "x"}).status_code == 403
    assert admin.store.api_tokens() == []


def test_the_secret_is_shown_once_and_works(admin: Admin) -> None:
    page = admin.client.get(PAGE).get_data(as_text=True)
    assert "トークンはありません" in page and 'href="/admin/tokens/"' in page
    assert "未使用" not in page
    r = admin.post(PAGE, {"name": "レセコン本院"})
    assert r.status_code == 201
    created = r.get_data(as_text=True)
    (secret,) = SECRET.findall(created)
    assert "今だけ表示" in created
    assert r.headers["Cache-Control"] == "no-store"
    assert admin.services.api_tokens.verify(secret) is not None
    again = admin.client.get(PAGE).get_data(as_text=True)
    assert secret not in again and not SECRET.search(again)
    (row,) = admin.store.api_tokens()
    listed = again.split(f'id="token-{row.id}"', 1)[1].split("</tr>", 1)[0]
    assert "レセコン本院" in listed and "有効" in listed and "未使用" not in listed  # just used
    assert row.created_by == "kanri"
    assert ("kanri", "api_token.created", f"api_token:{row.id}", "レセコン本院") in admin.actions()
    assert all(secret not in " ".join(a) for a in admin.actions())


def test_revoke_needs_csrf_and_is_audited(admin: Admin) -> None:
    row, secret = admin.services.api_tokens.create("chart", "kanri")
    url = f"{PAGE}{row.id}/revoke"
    assert admin.client.post(url).status_code == 403  # no CSRF token
    assert admin.services.api_tokens.verify(secret) is not None
    r = admin.post(url)
    assert r.status_code == 303 and r.headers["Location"].endswith("done=revoked")
    assert admin.services.api_tokens.verify(secret) is None
    page = admin.client.get(r.headers["Location"]).get_data(as_text=True)
    assert "失効させました" in page and f"{PAGE}{row.id}/revoke" not in page
    assert ("kanri", "api_token.revoked", f"api_token:{row.id}", "chart") in admin.actions()
    again = admin.post(url)
    assert again.headers["Location"].endswith("done=unchanged")
    assert admin.post(f"{PAGE}9999/revoke").status_code == 404


def test_bad_names_are_422_with_the_reason_and_nothing_made(admin: Admin) -> None:
    for name, words in (("", "名前を入力"), ("x" * 41, "40文字"), ("a\nb", "改行")):
        r = admin.post(PAGE, {"name": name})
        assert r.status_code == 422 and words in r.get_data(as_text=True), name
    admin.post(PAGE, {"name": "chart"})
    r = admin.post(PAGE, {"name": "chart"})
    assert r.status_code == 422 and "同じ名前" in r.get_data(as_text=True)
    assert len(admin.store.api_tokens()) == 1


def test_the_page_in_english(admin: Admin, tmp_path: Path) -> None:
    page = admin.client.get(PAGE + "?lang=en").get_data(as_text=True)
    assert "API tokens" in page and "No tokens yet" in page
    assert build  # the same builder as the other admin pages
