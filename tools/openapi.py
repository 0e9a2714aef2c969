"""Generate the merged OpenAPI document of every function into the layer (`make openapi`).

Each function's Powertools resolver describes its own routes; OpenAPIMerge joins them. The relay's send routes parse
their body themselves (auth must come before parsing, and they also take message/rfc822), so their request body is
described here from the same pydantic model the domain validates with. A test fails when the file is stale.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from local.template import Template, load_handler
from mailrelay.apidocs import SPEC_FILE
from mailrelay.http import SCHEMAS, error_doc
from mailrelay.models import channels, common, doctor, forms, messages, suppressions
from mailrelay.models.forms import FormSubmission
from mailrelay.models.messages import MessageRequest

MODEL_MODULES = (channels, common, doctor, forms, messages, suppressions)

SEND_ROUTES = ("/v1/messages", "/api/message")
SECURITY_SCHEMES = {
    "adminKey": HTTPBearer(description="admin key (or header X-Admin-Key when SigV4 signs the request)"),
    "channelToken": APIKey(
        **{"in": APIKeyIn.header}, name="X-Token", description="channel token; send the channel name in X-Descriptor"
    ),
    "channelBearer": HTTPBearer(description="`<descriptor>:<token>`"),
}


def build() -> dict[str, Any]:
    merge = OpenAPIMerge(
        title="mailrelay",
        version="1.0.0",
        description="One provider key, many senders: revocable, rate-limited, recipient-locked channels.",
        on_conflict="error",
        security_schemes=SECURITY_SCHEMES,
    )
    template = Template()
    routed = sorted({route.function for route in template.routes})  # functions behind an HTTP route
    validated = []
    for name in routed:
        handler = load_handler(template.functions[name])
        app = sys.modules[handler.__module__].app
        merge.add_schema(app.get_openapi_schema(security_schemes=SECURITY_SCHEMES))
        validated += [r for r in (*app._static_routes, *app._dynamic_routes) if r.enable_validation]
    spec = json.loads(merge.get_openapi_json_schema())
    for route in validated:  # what the resolver's validation answers, in our error shape
        responses = spec["paths"][route.openapi_path][route.method.lower()]["responses"]
        responses.setdefault("422", error_doc("invalid path, query or body (`detail` lists each problem)"))
    for unused in {"HTTPValidationError", "ValidationError"} - _referenced(
        {k: v for k, v in spec.items() if k != "components"}
    ):
        spec.get("components", {}).get("schemas", {}).pop(unused, None)
    add_response_models(spec)
    for request_model in (MessageRequest, FormSubmission):  # bodies the routes parse themselves
        schema = request_model.model_json_schema(ref_template=SCHEMAS + "{model}")
        spec.setdefault("components", {}).setdefault("schemas", {}).update(schema.pop("$defs", {}))
        spec["components"]["schemas"][request_model.__name__] = schema
    submission = spec["components"]["schemas"]["FormSubmission"]
    spec["components"]["schemas"]["FormFields"] = form_fields(submission)
    # A JSON post's other fields: any scalar (null leaves the field out), written into the mail as JSON writes it
    submission["additionalProperties"] = {"type": ["string", "number", "boolean", "null"]}
    for path in SEND_ROUTES:
        spec["paths"][path]["post"]["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/MessageRequest"}},
                "message/rfc822": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    describe_what_the_code_cannot(spec)
    return spec


UNROUTED = (
    "\n\nA request for a path this document lists, with a method it does not list for that path, is answered "
    "`405 method_not_allowed` with an `Allow` header; a path it does not list is `404 no_route`. Both are JSON in "
    'the shape of every error (`{"error", "message"}`).'
)
HTML = "text/html"
MAILGUN_WEBHOOK = {
    "type": "object",
    "required": ["signature", "event-data"],
    "properties": {
        "signature": {
            "type": "object",
            "description": "HMAC-SHA256 of timestamp + token under the Mailgun webhook signing key; 5 minutes, once",
            "required": ["timestamp", "token", "signature"],
            "properties": {
                "timestamp": {"type": "string", "pattern": "^[0-9]+$"},
                "token": {"type": "string", "minLength": 1},
                "signature": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            },
        },
        "event-data": {
            "type": "object",
            "description": "Mailgun's event: `failed` with severity `permanent`, and `complained`, suppress",
            "properties": {
                "event": {"type": "string"},
                "recipient": {"type": "string", "format": "email"},
                "severity": {"type": "string"},
                "user-variables": {"type": "object", "properties": {"mailrelay_id": {"type": "string"}}},
            },
        },
    },
}


def describe_what_the_code_cannot(spec: dict[str, Any]) -> None:
    """What the routes really answer, beyond what Powertools derives from their declarations: empty 204s, the HTML
    pages (docs, and plain form posts, which get a page with the same status as a JSON caller's error), the webhook's
    signed body, and the 404/405 of the $default route."""
    spec["info"]["description"] += UNROUTED
    for item in spec["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if status in ("204", "303"):
                    response.pop("content", None)  # no body, so no Content-Type
    spec["paths"]["/v1/docs"]["get"]["responses"]["200"]["content"] = {HTML: {"schema": {"type": "string"}}}
    form = spec["paths"]["/v1/forms/{descriptor}"]["post"]
    form["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": f"{SCHEMAS}FormSubmission"}},
            "application/x-www-form-urlencoded": {"schema": {"$ref": f"{SCHEMAS}FormFields"}},
            "multipart/form-data": {"schema": {"$ref": f"{SCHEMAS}FormFields"}},
        },
    }
    form["responses"].setdefault(
        "415", error_doc("neither application/json, application/x-www-form-urlencoded nor multipart/form-data")
    )
    for status, response in form["responses"].items():
        if status.startswith(("4", "5")):
            response["content"][HTML] = {"schema": {"type": "string"}}
            response["description"] += " (a page for a plain form post, JSON otherwise)"
    webhook = spec["paths"]["/v1/webhooks/mailgun"]["post"]
    webhook["requestBody"] = {"required": True, "content": {"application/json": {"schema": MAILGUN_WEBHOOK}}}
    webhook["responses"]["200"]["content"] = {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string", "enum": ["applied", "ignored"]}},
            }
        }
    }


def form_fields(submission: dict[str, Any]) -> dict[str, Any]:
    """FormSubmission as a urlencoded or multipart body carries it: a form field is text, never null (an absent
    field is how a form leaves one out)."""
    fields = json.loads(json.dumps(submission))
    for name, schema in fields["properties"].items():
        choices = [c for c in schema.pop("anyOf", []) if c.get("type") != "null"]
        if choices:
            schema.update(choices[0])
        schema.pop("default", None)
        fields["properties"][name] = schema
    fields["title"] = "FormFields"
    fields["additionalProperties"] = {"type": "string"}
    fields["description"] = "the fields of a urlencoded or multipart form post (files too, as parts with a filename)"
    return fields


def _referenced(node: Any) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        found = {ref.removeprefix(SCHEMAS)} if isinstance(ref, str) and ref.startswith(SCHEMAS) else set()
        return found.union(*(_referenced(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_referenced(v) for v in node))
    return set()


def add_response_models(spec: dict[str, Any]) -> None:
    """Schemas of the models that routes name in `model_doc(...)` (by name, so that INIT never imports pydantic)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    wanted = sorted(_referenced(spec["paths"]) - set(schemas))
    classes = {}
    for module in MODEL_MODULES:
        classes.update({k: v for k, v in vars(module).items() if isinstance(v, type) and issubclass(v, BaseModel)})
    missing = [name for name in wanted if name not in classes]
    assert not missing, f"model_doc names models that mailrelay.models does not define: {missing}"
    _, definitions = models_json_schema(
        [(classes[name], "serialization") for name in wanted], ref_template=SCHEMAS + "{model}"
    )
    schemas.update(definitions.get("$defs", {}))


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SPEC_FILE.write_text(render(), encoding="utf-8")
    print(f"wrote {SPEC_FILE}")
