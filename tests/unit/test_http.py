"""Error mapping and body parsing: one JSON error shape, 400 for malformed JSON, 422 for schema violations."""

import json

import pytest

from mailrelay.dal.items import decode_cursor, encode_cursor
from mailrelay.errors import BadRequest, InvalidBody, RateLimited
from mailrelay.http import body_bytes, error_response, parse_json
from mailrelay.models.messages import MessageRequest


def test_malformed_json_is_400_and_schema_errors_are_422_with_detail():
    with pytest.raises(BadRequest) as bad:
        parse_json(MessageRequest, b"{not json")
    assert bad.value.status == 400 and bad.value.body()["error"] == "invalid_json"
    with pytest.raises(InvalidBody) as invalid:
        parse_json(MessageRequest, b'{"subject": "s", "text": "t", "to": "x@example.com"}')
    body = invalid.value.body()
    assert invalid.value.status == 422 and body["error"] == "validation_error"
    assert body["message"].startswith("to:") and body["detail"][0]["type"] == "extra_forbidden"


def test_error_response_carries_headers_and_contract_shape():
    response = error_response(RateLimited("slow down", 7))
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert json.loads(response.body) == {"error": "rate_limited", "message": "slow down", "retry_after": 7}


def test_body_bytes_decodes_base64_events():
    assert body_bytes({"body": "aGk=", "isBase64Encoded": True}) == b"hi"
    assert body_bytes({"body": "hé", "isBase64Encoded": False}) == "hé".encode()
    assert body_bytes({}) == b""


def test_cursor_round_trip_and_tampering():
    cursor = encode_cursor({"descriptor": "web"})
    assert decode_cursor(cursor, {"descriptor"}) == {"descriptor": "web"}
    assert encode_cursor(None) is None and decode_cursor(None, {"descriptor"}) is None
    for bad in ("!!!", encode_cursor({"other": "x"}), encode_cursor({"descriptor": 1})):
        with pytest.raises(BadRequest):
            decode_cursor(bad, {"descriptor"})


def test_an_unhandled_error_is_logged_without_what_the_caller_sent(caplog):
    """pydantic's message carries `input_value`, a KeyError its key: the log line keeps the type, the place and (for
    pydantic) where and what kind of problem, never the submitted value; AWS's own messages are kept."""
    from botocore.exceptions import ClientError
    from pydantic import ValidationError

    from mailrelay.http import log_unexpected
    from mailrelay.models.common import Address

    submitted = "secret-visitor-7f3a@example.com<"
    for raised in (lambda: Address.model_validate({"email": submitted}), lambda: {}[submitted]):
        try:
            raised()
        except (ValidationError, KeyError) as error:
            log_unexpected(error)
    error = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed: dynamodb:GetItem"}}, "Get")
    log_unexpected(error)
    lines = [record.__dict__ for record in caplog.records if record.getMessage() == "unhandled error"]
    assert [line["exception_name"] for line in lines] == ["ValidationError", "KeyError", "ClientError"]
    assert lines[0]["errors"] == [{"loc": ["email"], "type": "value_error"}] and lines[0]["frames"]
    assert not any(line["exc_info"] for line in lines)  # no traceback text: it would carry the message
    assert "secret-visitor-7f3a" not in repr(lines)
    assert "dynamodb:GetItem" in lines[2]["exception_message"]
