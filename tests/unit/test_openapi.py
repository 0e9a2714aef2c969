"""The served OpenAPI document is generated from the code (tools/openapi.py); a stale copy fails here."""

import json

from local.template import Template
from mailrelay.apidocs import SPEC_FILE
from tools import openapi


def test_committed_spec_matches_the_code():
    assert SPEC_FILE.read_text() == openapi.render(), "run `make openapi` and commit the result"


def test_spec_documents_every_template_route():
    spec = json.loads(SPEC_FILE.read_text())
    documented = {f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops}
    assert documented == {route.key for route in Template().routes} - {"$default"}


def test_send_routes_document_both_body_types_and_errors():
    operation = json.loads(SPEC_FILE.read_text())["paths"]["/v1/messages"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "message/rfc822"}
    assert {"200", "400", "401", "413", "422", "429", "502"} <= set(operation["responses"])
