"""Static checks of each function's IAM policy as SAM translates template.yaml - what moto cannot check.

moto enforces actions only (local/iam.py), so resource scoping is checked here: DynamoDB actions only on the
template's tables (and their indexes), Secrets Manager only on its secrets, SQS / SNS only on its queues / topics,
never "*". Least privilege for the one broad read: dynamodb:Scan only where the function's code scans. And the calls
the local stack cannot check under IAM (moto has no such API; the local SES answers them itself) must be granted.
A function's code is its CodeUri plus the `mailrelay` modules it imports, transitively - module granularity, so
the Scan check is coarse: today every function reaches dal/channels.py or dal/items.py, which scan. Policies are
read with the parameters' defaults (a policy under Fn::If is checked in the branch the defaults pick).
"""

from __future__ import annotations

import ast
import re
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from local.iam import role_policies, translated
from local.template import ROOT, Template
from mailrelay.lazy import named_lazily

TEMPLATE = Template()
REFS = {
    **TEMPLATE.parameter_defaults(),
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
}
RESOURCES = translated(TEMPLATE)["Resources"]
LAYER = ROOT / "layers" / "common"
TABLE_ARN = r"arn:\$\{AWS::Partition\}:dynamodb:\$\{AWS::Region\}:\$\{AWS::AccountId\}:table/\$\{(\w+)\}(/index/\*)?"
# service prefix -> (resource type the grant must name, how a grant may name it: group 1 is the logical id)
SCOPES = {
    "dynamodb": ("AWS::DynamoDB::Table", [r"\$\{(\w+)\.Arn\}(/index/\*)?", TABLE_ARN]),
    "secretsmanager": ("AWS::SecretsManager::Secret", [r"\$\{(\w+)\}"]),
    "sqs": ("AWS::SQS::Queue", [r"\$\{(\w+)\.Arn\}"]),
    "sns": ("AWS::SNS::Topic", [r"\$\{(\w+)\}", r"\$\{(\w+)\.TopicArn\}"]),
}
# boto3 calls moto cannot check locally -> the action AWS checks
UNCHECKED_LOCALLY = {
    "get_account": "ses:GetAccount",
    "get_configuration_set_event_destinations": "ses:GetConfigurationSetEventDestinations",
}


def canonical(node: Any) -> str:
    """A policy Resource as one string in Fn::Sub syntax: Ref X -> ${X}, GetAtt X.Y -> ${X.Y}, Join/Sub flattened."""
    if isinstance(node, str):
        return node
    ((name, arg),) = node.items()
    if name == "Ref":
        return f"${{{arg}}}"
    if name == "Fn::GetAtt":
        return "${" + ".".join(arg if isinstance(arg, list) else [arg]) + "}"
    if name == "Fn::Join":
        return arg[0].join(canonical(part) for part in arg[1])
    if name == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        return re.sub(r"\$\{([\w.:]+)\}", lambda m: canonical(variables.get(m[1], m[0])), text)
    raise AssertionError(f"unexpected intrinsic in a policy resource: {node}")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(function: str) -> list[dict[str, Any]]:
    return [s for d in role_policies(TEMPLATE, REFS)[function] for s in _listed(d["Statement"])]


def granted(function: str, action: str) -> bool:
    return any(
        s["Effect"] == "Allow" and any(fnmatchcase(action, a) for a in _listed(s.get("Action", [])))
        for s in statements(function)
    )


@cache
def code(function: str) -> str:
    """The source of the function's CodeUri and of every mailrelay module it imports, transitively."""
    todo, seen = list((ROOT / TEMPLATE.functions[function].code_uri).rglob("*.py")), set()
    sources = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        sources.append(path.read_text())
        for node in ast.walk(ast.parse(sources[-1])):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif named_lazily(node):  # mailrelay.lazy.lazy("mailrelay.domain.x"): imported on first use
                modules = [named_lazily(node)]
            else:
                continue
            for module in (m for m in modules if m.split(".")[0] == "mailrelay"):
                base = LAYER.joinpath(*module.split("."))
                todo += [p for p in (base.with_suffix(".py"), base / "__init__.py") if p.exists()]
    return "\n".join(sources)


@pytest.mark.parametrize("function", sorted(TEMPLATE.functions))
def test_data_actions_are_granted_only_on_the_templates_own_resources(function):
    for statement in statements(function):
        if statement["Effect"] != "Allow":
            continue
        services = {a.split(":")[0] for a in _listed(statement.get("Action", []))}
        assert "*" not in services and "NotAction" not in statement, f"{function}: {statement}"
        for service in services & set(SCOPES):
            resource_type, patterns = SCOPES[service]
            own = {k for k, v in RESOURCES.items() if v["Type"] == resource_type}
            for resource in _listed(statement.get("Resource", "*")):
                found = [re.fullmatch(p, canonical(resource)) for p in patterns]
                assert any(m and m[1] in own for m in found), (
                    f"{function}: {service} actions on {canonical(resource)}; only the template's {resource_type} "
                    f"({sorted(own)}) - split the statement per service"
                )


@pytest.mark.parametrize("function", sorted(TEMPLATE.functions))
def test_scan_is_granted_only_to_code_that_scans(function):
    if granted(function, "dynamodb:Scan"):
        assert re.search(r"\bScan\b|\.scan\(", code(function)), f"{function} may Scan, its code never scans"


@pytest.mark.parametrize("function", sorted(TEMPLATE.functions))
@pytest.mark.parametrize("call", sorted(UNCHECKED_LOCALLY))
def test_calls_the_local_stack_cannot_check_are_granted(function, call):
    if re.search(rf"\.{call}\(", code(function)):
        assert granted(function, UNCHECKED_LOCALLY[call]), f"{function} calls {call}: grant {UNCHECKED_LOCALLY[call]}"


def test_the_checks_see_real_code_and_policies():
    assert TEMPLATE.functions and all(statements(f) for f in TEMPLATE.functions)
    assert all(
        "from mailrelay" in code(f) and len(code(f)) > len(Path(TEMPLATE.functions[f].source).read_text())
        for f in TEMPLATE.functions
    )
