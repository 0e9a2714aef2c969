"""Resource policies as AWS evaluates them for a calling *service* (SES publishing to a topic, using a KMS key).

moto stores topic and key policies but never evaluates them, and its IAM enforcement covers identities, not resource
policies; without this check the local stack would let SES publish to a topic that AWS would refuse it (the
`alias/aws/sns` trap). Only what those checks need is here: service principals, Action/Resource wildcards, and the
String/Arn condition operators on request context keys. Anything else in a matching statement (another operator,
NotPrincipal, NotAction) counts as not granting - stricter than AWS, never kinder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

_OPERATORS = {
    "StringEquals": lambda actual, wanted: actual == wanted,
    "StringLike": fnmatchcase,
    "ArnEquals": lambda actual, wanted: actual == wanted,
    "ArnLike": fnmatchcase,
}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(patterns: Any, value: str, case_insensitive: bool = False) -> bool:
    fold = str.lower if case_insensitive else str
    return any(fnmatchcase(fold(value), fold(str(p))) for p in _list(patterns))


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    known = {k.lower(): v for k, v in context.items()}
    for operator, tests in conditions.items():
        compare = _OPERATORS.get(operator)
        if compare is None:
            return False
        for key, wanted in tests.items():
            actual = known.get(key.lower())
            if actual is None or not any(compare(actual, str(w)) for w in _list(wanted)):
                return False
    return True


def _applies(statement: Mapping[str, Any], service: str, action: str, resource: str, context: Mapping[str, str]):
    if {"NotPrincipal", "NotAction", "NotResource"} & set(statement):
        return False
    principal = statement.get("Principal")
    services = _list(principal.get("Service", [])) if isinstance(principal, dict) else []
    if principal != "*" and service not in services:
        return False
    return (
        _matches(statement.get("Action", []), action, case_insensitive=True)
        and _matches(statement.get("Resource", "*"), resource)
        and _conditions_hold(statement.get("Condition", {}), context)
    )


def service_allowed(
    policy: str | Mapping[str, Any] | None, service: str, action: str, resource: str, context: Mapping[str, str]
) -> bool:
    """True when `policy` lets `service` (e.g. ses.amazonaws.com) perform `action` on `resource` in `context`."""
    if not policy:
        return False
    document = json.loads(policy) if isinstance(policy, str) else policy
    statements = _list(document.get("Statement", []))
    applying = [s for s in statements if _applies(s, service, action, resource, context)]
    return any(s.get("Effect") == "Allow" for s in applying) and not any(s.get("Effect") == "Deny" for s in applying)
