"""Serves the OpenAPI document of every function (merged at build time by tools/openapi.py) and Swagger UI."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

SPEC_FILE = Path(__file__).with_name("openapi.json")
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


@cache
def spec_json() -> str:
    return SPEC_FILE.read_text(encoding="utf-8")


@cache
def _operations() -> tuple[tuple[re.Pattern, frozenset[str]], ...]:
    """(path pattern, methods) of every path in the OpenAPI document; `{name}` is one segment, as in API Gateway."""
    found = []
    for template, item in json.loads(spec_json())["paths"].items():
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
        found.append((re.compile(f"^{pattern}$"), frozenset(m.upper() for m in item if m in HTTP_METHODS)))
    return tuple(found)


def allowed_methods(path: str) -> list[str]:
    """The methods the API documents for this concrete path (empty: the API has no such path)."""
    return sorted(set().union(*(methods for pattern, methods in _operations() if pattern.match(path))))


@cache
def swagger_html() -> str:
    """Swagger UI with its assets inlined from Powertools' bundle (no CDN), showing the merged spec."""
    from aws_lambda_powertools.event_handler.openapi import swagger_ui
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = Path(swagger_ui.__file__).parent
    return generate_swagger_html(
        spec_json().replace("</", "<\\/"),
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
    )
