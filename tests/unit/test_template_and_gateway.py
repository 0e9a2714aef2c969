"""template.yaml is the only route list: the reader, the event builder and the events/ samples agree with it."""

import base64
import json
from pathlib import Path

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from local.gateway import build_event, is_text, to_response
from local.template import ROOT, Template, evaluate

TEMPLATE = Template()


def test_every_route_targets_a_function_with_a_handler_file():
    assert len(TEMPLATE.routes) >= 14
    for route in TEMPLATE.routes:
        assert TEMPLATE.functions[route.function].source.is_file()


def test_control_routes_follow_the_authorization_parameter_and_relay_routes_are_open():
    for route in TEMPLATE.routes:
        expected = {"Ref": "ControlAuthorization"} if route.function == "ControlFunction" else "NONE"
        assert route.authorization == str(expected)


def test_matching_prefers_literal_routes_and_extracts_parameters():
    route, params = TEMPLATE.match("GET", "/v1/channels/web.site-1")
    assert route.key == "GET /v1/channels/{descriptor}" and params == {"descriptor": "web.site-1"}
    route, params = TEMPLATE.match("GET", "/v1/channels")
    assert route.key == "GET /v1/channels" and params == {}
    # What no route matches goes to the $default route, as in API Gateway
    for method, path in (("PATCH", "/v1/channels/x"), ("GET", "/v1/channels/a/b"), ("TRACE", "/nowhere")):
        route, params = TEMPLATE.match(method, path)
        assert route.key == "$default" and route.function == "RelayFunction" and params == {}


def test_conditions_and_refs_evaluate():
    conditions = TEMPLATE.doc["Conditions"]
    assert TEMPLATE.condition("HasSenderDomain", {"SenderDomain": "example.com"})
    assert not TEMPLATE.condition("HasSenderDomain", {"SenderDomain": ""})
    assert evaluate({"Fn::Sub": "a-${X}-b"}, {"X": "1"}, conditions) == "a-1-b"
    with pytest.raises(KeyError):
        evaluate({"Ref": "Missing"}, {})


def test_every_function_environment_resolves_against_template_resources():
    names = set(TEMPLATE.resources) | set(TEMPLATE.doc["Parameters"])
    for function in TEMPLATE.functions.values():
        for value in function.environment.values():
            if isinstance(value, dict):
                assert value["Ref"] in names


HTTP_SAMPLES = sorted(p for p in (ROOT / "events").glob("*.json") if "routeKey" in json.loads(p.read_text()))


def test_events_dir_has_a_sample_for_every_route_and_nothing_else():
    keys = {json.loads(p.read_text())["routeKey"] for p in HTTP_SAMPLES}
    assert keys == {r.key for r in TEMPLATE.routes}


def test_sns_sample_is_for_the_ses_event_topic_subscriber():
    record = json.loads((ROOT / "events" / "sns-ses-bounce.json").read_text())["Records"][0]
    assert record["EventSource"] == "aws:sns" and json.loads(record["Sns"]["Message"])["eventType"] == "Bounce"
    assert TEMPLATE.sns_subscribers(TEMPLATE.ses_event_topic()) == ["EventsFunction"]


@pytest.mark.parametrize("path", HTTP_SAMPLES, ids=lambda p: p.name)
def test_event_samples_are_payload_v2(path: Path):
    event = json.loads(path.read_text())
    assert event["version"] == "2.0"
    route, params = TEMPLATE.match(event["requestContext"]["http"]["method"], event["rawPath"])
    assert route.key == event["routeKey"] == event["requestContext"]["routeKey"]
    assert event.get("pathParameters", {}) == params
    assert all(name == name.lower() for name in event["headers"])


def test_build_event_base64_encodes_binary_bodies_and_joins_repeated_values():
    raw = b"Subject: x\r\n\r\nbody"
    builder = EnvironBuilder(
        method="POST",
        path="/v1/messages",
        query_string="a=1&a=2",
        headers=[("Content-Type", "message/rfc822"), ("X-Tag", "one"), ("X-Tag", "two")],
        data=raw,
    )
    route, params = TEMPLATE.match("POST", "/v1/messages")
    event = build_event(Request(builder.get_environ()), route, params, raw)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw
    assert event["headers"]["x-tag"].replace(" ", "") == "one,two"  # WSGI itself joins with ", "
    assert event["queryStringParameters"] == {"a": "1,2"} and event["rawQueryString"] == "a=1&a=2"
    assert event["routeKey"] == "POST /v1/messages"
    assert is_text("application/json; charset=utf-8") and not is_text("multipart/form-data; boundary=x")


def test_to_response_decodes_base64_and_defaults_plain_results_to_json():
    response = to_response({"statusCode": 201, "headers": {"X-A": "b"}, "body": "aGk=", "isBase64Encoded": True})
    assert response.status_code == 201 and response.get_data() == b"hi" and response.headers["X-A"] == "b"
    plain = to_response({"status": "ok"})
    assert plain.status_code == 200 and json.loads(plain.get_data()) == {"status": "ok"}
