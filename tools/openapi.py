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

from local.template import Template, load_handler
from mailrelay.apidocs import SPEC_FILE
from mailrelay.models.messages import MessageRequest

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
    for name in routed:
        handler = load_handler(template.functions[name])
        app = sys.modules[handler.__module__].app
        merge.add_schema(app.get_openapi_schema(security_schemes=SECURITY_SCHEMES))
    spec = json.loads(merge.get_openapi_json_schema())
    message_schema = MessageRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    spec.setdefault("components", {}).setdefault("schemas", {}).update(message_schema.pop("$defs", {}))
    spec["components"]["schemas"]["MessageRequest"] = message_schema
    for path in SEND_ROUTES:
        spec["paths"][path]["post"]["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/MessageRequest"}},
                "message/rfc822": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    return spec


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SPEC_FILE.write_text(render(), encoding="utf-8")
    print(f"wrote {SPEC_FILE}")
