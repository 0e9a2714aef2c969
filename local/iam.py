"""Every function under its own IAM role, exactly as template.yaml grants it, with moto enforcing IAM.

aws-sam-translator expands the template (policy templates, Statement blocks, SAM's own extras such as an
EventInvokeConfig's SQS destination) into each function's AWS::IAM::Role; `provision_roles` creates those roles in
moto and hands out their assumed-role credentials, `enforce` turns moto's IAM checks on.

What moto 5.2.5 checks (probed in-process and against the server: a call without the grant -> AccessDenied naming
the action; with exactly that action granted -> allowed):
- enforced, with AWS's action names: dynamodb GetItem, PutItem, UpdateItem, DeleteItem, BatchGetItem,
  BatchWriteItem, Query, Scan, TransactWriteItems; secretsmanager:GetSecretValue; sesv2 SendEmail (Simple and Raw
  both ses:SendEmail, as in AWS: the prefix is the signing name `ses`), CreateEmailIdentity, ListEmailIdentities,
  GetEmailIdentity (only with `_patch_moto`, below); ses:SendRawEmail (SES v1); sns Publish, GetTopicAttributes,
  ListSubscriptionsByTopic; sqs:SendMessage; kms:Encrypt.
- bodiless requests (REST GETs such as sesv2 GetEmailIdentity) fail with SignatureDoesNotMatch whatever the policy:
  moto signs its parsed headers as the body. `_patch_moto` fixes that in this process - which is where the local
  stack's moto server runs; a moto server in another process keeps the bug.
- unchecked: sesv2 GetAccount and GetConfigurationSetEventDestinations - moto has neither (in-process:
  NotImplementedError); the local stack's own SES layer answers them before moto, so no IAM check happens.
  tests/unit/test_iam_policies.py requires their grants wherever the code calls them.
- Resource is never matched: a grant on a table's ARN still denies (SQS even checks the queue's ARN), so every
  statement keeps its Effect and actions exactly and gets "Resource": "*"; the unit test checks resource scoping.
  Condition blocks are dropped too (moto knows few keys and treats an unmet condition as an explicit deny even in an
  Allow). A Deny scoped to a resource thus denies everywhere: stricter than AWS, never looser.
- AccessDenied comes as an XML body even from JSON services: botocore reports code "403" (DynamoDB, Secrets Manager,
  SQS, SES v2, KMS) where AWS says AccessDeniedException; SNS and SES v1 say AccessDenied. `DENIED` records each.
Assumed-role credentials never expire in moto (it stores the expiry, never checks it) and boto3 never refreshes
static environment credentials, so a local stack can run for days; DurationSeconds is still AWS's maximum.
"""

from __future__ import annotations

import copy
import json
from collections import deque
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import boto3
import requests

from local.aws import REGION, LocalAws
from local.template import Template, evaluate

MAX_SESSION_SECONDS = 12 * 3600  # AWS's upper bound for AssumeRole (and a role's MaxSessionDuration)
ADMIN_USER = "mailrelay-local-admin"
POLICY_NAME = "template"  # each role's one inline policy
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
TRUST_ANYONE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}
DENIED: deque[str] = deque(maxlen=1000)  # "<principal arn> <action>" of every AccessDenied moto raised here
REPORTERS: list[Callable[[str], None]] = []  # the local stack logs every denial (tests/e2e fail on any)
_NO_VALUE = object()


@cache
def _aws_managed_policies() -> dict[str, dict[str, Any]]:
    """AWS managed policies by ARN, with their documents (moto ships a copy: no AWS call)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return {f"arn:aws:iam::aws:policy{p['Path']}{name}": p for name, p in json.loads(aws_managed_policies_data).items()}


@cache
def translated(template: Template) -> dict[str, Any]:
    """The template as CloudFormation sees it after the SAM transform (code locations stubbed, no AWS call)."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    doc = copy.deepcopy(template.doc)
    for resource in doc.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and "InlineCode" not in props:
            props["CodeUri"] = "s3://local/code"  # the translator only accepts S3 locations
        if resource.get("Type") == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://local/code"
    names = {arn.rsplit("/", 1)[1]: arn for arn in _aws_managed_policies()}
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    return translator.translate(doc, {}, get_managed_policy_map=lambda: names)


def _prune(node: Any, refs: Mapping[str, Any], conditions: Mapping[str, Any]) -> Any:
    """Apply Fn::If (with the stack's parameters) and drop AWS::NoValue; every other intrinsic stays as it is."""
    if isinstance(node, list):
        return [v for v in (_prune(item, refs, conditions) for item in node) if v is not _NO_VALUE]
    if not isinstance(node, dict):
        return node
    if node == {"Ref": "AWS::NoValue"}:
        return _NO_VALUE
    if set(node) == {"Fn::If"}:
        name, then, otherwise = node["Fn::If"]
        return _prune(then if evaluate(conditions[name], refs, conditions) else otherwise, refs, conditions)
    pruned = {key: _prune(value, refs, conditions) for key, value in node.items()}
    return {key: value for key, value in pruned.items() if value is not _NO_VALUE}


def role_policies(template: Template, refs: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per function: every policy document its translated role holds (inline, AWS::IAM::Policy / ManagedPolicy
    resources naming the role, managed policy ARNs), Fn::If applied; Ref/Sub/GetAtt left unresolved."""
    cfn = translated(template)
    resources, conditions = cfn["Resources"], cfn.get("Conditions", {})
    result = {}
    for function in template.functions:
        role = resources[function]["Properties"]["Role"]
        if not (isinstance(role, dict) and resources.get(role.get("Fn::GetAtt", [""])[0], {}).get("Properties")):
            raise ValueError(f"{function}: Role {role!r} is not a role of this template")
        role_id = role["Fn::GetAtt"][0]  # SAM's generated role, or the template's own
        role = _prune(resources[role_id]["Properties"], refs, conditions)
        documents = [policy["PolicyDocument"] for policy in role.get("Policies", [])]
        for resource in resources.values():
            if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            props = _prune(resource["Properties"], refs, conditions)
            wanted = "Condition" not in resource or evaluate(conditions[resource["Condition"]], refs, conditions)
            if wanted and {"Ref": role_id} in props.get("Roles", []):
                documents.append(props["PolicyDocument"])
        for arn in role.get("ManagedPolicyArns", []):
            if isinstance(arn, dict) and "Ref" in arn:  # an AWS::IAM::ManagedPolicy of this template
                documents.append(_prune(resources[arn["Ref"]]["Properties"]["PolicyDocument"], refs, conditions))
            else:
                documents.append(_aws_managed_policies()[evaluate(arn, refs)]["Document"])
        result[function] = copy.deepcopy(documents)
    return result


def moto_policy(documents: list[dict[str, Any]], refs: Mapping[str, Any]) -> dict[str, Any]:
    """One policy with every statement's Effect and (Not)Action exactly as granted, on "*" (see the docstring)."""
    statements = []
    for document in documents:
        listed = document["Statement"]
        for statement in listed if isinstance(listed, list) else [listed]:
            kept = {
                key: evaluate(statement[key], refs) for key in ("Effect", "Action", "NotAction") if key in statement
            }
            statements.append({**kept, "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


def role_name(function: str) -> str:
    return f"mailrelay-local-{function}"[:64]


def provision_roles(
    template: Template, local: LocalAws, policies: Mapping[str, list[dict[str, Any]]] | None = None
) -> dict[str, dict[str, str]]:
    """Create (or update) one role per function and assume it: per function, the environment variables that give a
    process that role's credentials. `policies` (default: `role_policies`) replaces the documents of the functions
    it names. Run it while IAM is not enforced, or with admin credentials in the environment."""
    iam, sts = local.client("iam"), local.client("sts")
    environments = {}
    for function, documents in (policies if policies is not None else role_policies(template, local.refs)).items():
        name = role_name(function)
        try:
            arn = iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(TRUST_ANYONE),
                MaxSessionDuration=MAX_SESSION_SECONDS,
            )["Role"]["Arn"]
        except iam.exceptions.EntityAlreadyExistsException:
            arn = iam.get_role(RoleName=name)["Role"]["Arn"]
        iam.put_role_policy(
            RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(moto_policy(documents, local.refs))
        )
        credentials = sts.assume_role(RoleArn=arn, RoleSessionName=function, DurationSeconds=MAX_SESSION_SECONDS)
        environments[function] = _environment(credentials["Credentials"], credentials["Credentials"]["SessionToken"])
    return environments


def admin_environment(local: LocalAws) -> dict[str, str]:
    """Credentials of an IAM user allowed everything, for the local stack's own calls once IAM is enforced
    (made once per LocalAws, the first time before `enforce`). AWS_SESSION_TOKEN is empty: moto refuses a user's key
    that comes with a token."""
    if not hasattr(local, "_admin_environment"):
        iam = local.client("iam")
        iam.create_user(UserName=ADMIN_USER)
        iam.put_user_policy(UserName=ADMIN_USER, PolicyName="everything", PolicyDocument=json.dumps(ALLOW_ALL))
        key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
        local._admin_environment = _environment(key, "")  # type: ignore[attr-defined]
    return dict(local._admin_environment)  # type: ignore[attr-defined]


def _environment(credentials: Mapping[str, str], token: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": token,
    }


def enforce(local: LocalAws, on: bool = True) -> None:
    """Turn moto's IAM checks on (every request from now on) or off, for in-process moto or the server."""
    _patch_moto()
    count = 0 if on else float("inf")
    if local.endpoint:
        requests.post(f"{local.endpoint}/moto-api/reset-auth", data=str(count), timeout=10).raise_for_status()
    else:
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin

        settings.INITIAL_NO_AUTH_ACTION_COUNT = count
        ActionAuthenticatorMixin.request_count = 0


@cache
def _patch_moto() -> None:
    """In this process's moto: check a bodiless request's signature over its empty body (moto 5.2.5 signs the parsed
    headers or query instead, so every REST GET fails), and record each AccessDenied in DENIED."""
    from moto.iam.access_control import IAMRequest

    create_request, deny = IAMRequest._create_aws_request, IAMRequest._raise_access_denied

    def create_aws_request(self: IAMRequest):
        request = create_request(self)
        content_type = next((v for k, v in self._headers.items() if k.lower() == "content-type"), "")
        if not self._body and "x-www-form-urlencoded" not in content_type:  # a form's body is in self._data
            request.data = b""
        return request

    def raise_access_denied(self: IAMRequest) -> None:
        DENIED.append(f"{self._access_key.arn} {self._action}")
        for report in REPORTERS:
            report(f"local IAM: denied {self._action} to {self._access_key.arn} (template.yaml does not grant it)")
        deny(self)

    IAMRequest._create_aws_request = create_aws_request  # type: ignore[method-assign]
    IAMRequest._raise_access_denied = raise_access_denied  # type: ignore[method-assign]
