"""Serves the OpenAPI document of every function (merged at build time by tools/openapi.py) and Swagger UI."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SPEC_FILE = Path(__file__).with_name("openapi.json")


@cache
def spec_json() -> str:
    return SPEC_FILE.read_text(encoding="utf-8")


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
