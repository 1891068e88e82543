"""What a client sends before any page looks at it: the JSON body of a page's own script.

A page's scripts send one flat JSON object of plain values. Anything else — another content
type, bytes that are not JSON, NaN, an array, nesting deeper than any page sends (which would
otherwise end in a RecursionError inside the parser, a 500) — is refused here with a 4xx that
says what was wrong, before a view sees it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request
from werkzeug.exceptions import HTTPException

# The deepest a page's script nests (an object holding the consent answers' object is 2).
MAX_JSON_DEPTH = 8
# Strings are skipped, brackets counted. The closing quote is optional so that an unterminated
# string ends the scan instead of being retried from every quote inside it: linear time.
_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


class RequestRefused(HTTPException):
    """A 4xx whose message (a key of web.present.STRINGS) says what was wrong with the request;
    the apps' error handler shows it like any other error, with the security headers."""

    def __init__(self, code: int, key: str) -> None:
        super().__init__(description=key)
        self.code = code
        self.key = key


def json_depth(data: bytes) -> int:
    """How deeply `data` nests arrays and objects (brackets inside strings do not count)."""
    depth = deepest = 0
    for token in _STRUCTURE.finditer(data):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif bracket in (b"]", b"}"):
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_object() -> dict[str, Any]:
    """The request's JSON object; RequestRefused (415/400) with the reason otherwise."""
    if request.mimetype != "application/json":
        raise RequestRefused(415, "error_415")
    data = request.get_data(cache=True)  # the apps' MAX_CONTENT_LENGTH applies (413)
    if json_depth(data) > MAX_JSON_DEPTH:
        raise RequestRefused(400, "error_json_depth")
    try:
        body = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise RequestRefused(400, "error_json_syntax") from None
    if not isinstance(body, dict):
        raise RequestRefused(400, "error_json_object")
    return body
