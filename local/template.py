"""Reads template.yaml: the route table, functions, resources and environment. Nothing here keeps a second list."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"

_SHORT_TAGS = {"Ref": "Ref", "Condition": "Condition"}
DEFAULT_ROUTE = "$default"  # the HTTP API route key of requests that match no other route


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (!Ref, !Sub, !GetAtt, ...) into their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {_SHORT_TAGS.get(suffix, f"Fn::{suffix}"): value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    authorization: str = "NONE"
    integration_timeout: float = 30.0  # seconds API Gateway waits for the function (TimeoutInMillis)
    pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.method == DEFAULT_ROUTE:  # API Gateway's catch-all: any method, any path
            object.__setattr__(self, "pattern", re.compile(".*", re.DOTALL))
            return
        regex = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(self.path))
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    @property
    def key(self) -> str:
        return DEFAULT_ROUTE if self.method == DEFAULT_ROUTE else f"{self.method} {self.path}"

    @property
    def specificity(self) -> tuple[int, int]:
        """API Gateway prefers literal segments over variables, and shorter greedy matches last; `$default` is last."""
        if self.method == DEFAULT_ROUTE:
            return (sys.maxsize, 0)
        return (self.path.count("{"), -len(self.path))


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: str
    handler: str
    environment: Mapping[str, Any]
    timeout: float = 3.0  # seconds (Lambda's default when neither the function nor Globals say)
    memory: int = 128

    @property
    def source(self) -> Path:
        module = self.handler.rsplit(".", 1)[0]
        return ROOT / self.code_uri / (module.replace(".", "/") + ".py")


class Template:
    def __init__(self, path: Path = TEMPLATE):
        self.path = path
        self.doc: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.doc.get("Resources", {})

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == resource_type}

    def parameter_defaults(self) -> dict[str, str]:
        return {k: str(v.get("Default", "")) for k, v in self.doc.get("Parameters", {}).items()}

    @cached_property
    def functions(self) -> dict[str, Function]:
        globals_ = self.doc.get("Globals", {}).get("Function", {})
        base_env = globals_.get("Environment", {}).get("Variables", {})
        functions = {}
        for logical_id, resource in self.of_type("AWS::Serverless::Function").items():
            props = resource.get("Properties", {})
            env = {**base_env, **props.get("Environment", {}).get("Variables", {})}
            functions[logical_id] = Function(
                logical_id=logical_id,
                code_uri=str(props.get("CodeUri", globals_.get("CodeUri", ""))).rstrip("/"),
                handler=props.get("Handler", globals_.get("Handler", "")),
                environment=env,
                timeout=float(props.get("Timeout", globals_.get("Timeout", 3))),
                memory=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
            )
        return functions

    @cached_property
    def routes(self) -> list[Route]:
        """Every AWS::ApiGatewayV2::Route, most specific first, with the function its integration invokes."""
        integrations = self.of_type("AWS::ApiGatewayV2::Integration")
        routes = []
        for logical_id, resource in self.of_type("AWS::ApiGatewayV2::Route").items():
            props = resource["Properties"]
            method, _, path = props["RouteKey"].partition(" ")  # "$default" has no path
            target = props["Target"]["Fn::Sub"]
            match = re.fullmatch(r"integrations/\$\{(\w+)\}", target)
            if not match or match.group(1) not in integrations:
                raise ValueError(f"{logical_id}: target {target!r} is not an integration in the template")
            integration = integrations[match.group(1)]["Properties"]
            uri = integration["IntegrationUri"]
            function = uri["Fn::GetAtt"][0]
            if function not in self.functions:
                raise ValueError(f"{logical_id}: integration invokes {function!r}, which is not a function")
            auth = props.get("AuthorizationType", "NONE")
            timeout = float(integration.get("TimeoutInMillis", 30_000)) / 1000
            routes.append(Route(method, path, function, str(auth), integration_timeout=timeout))
        return sorted(routes, key=lambda r: r.specificity)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method in (method, "ANY", DEFAULT_ROUTE):
                found = route.pattern.match(path)
                if found:
                    return route, found.groupdict()
        return None

    def sns_subscriptions(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(function, topic logical id, event properties) for every SAM `Type: SNS` event."""
        return [
            (name, event["Properties"]["Topic"]["Ref"], event["Properties"])
            for name, resource in self.of_type("AWS::Serverless::Function").items()
            for event in (resource.get("Properties", {}).get("Events") or {}).values()
            if event.get("Type") == "SNS"
        ]

    def sns_subscribers(self, topic: str) -> list[str]:
        """Functions subscribed to the SNS topic with logical id `topic`."""
        return [function for function, subscribed, _ in self.sns_subscriptions() if subscribed == topic]

    def ses_event_topic(self) -> str | None:
        """The SNS topic SES publishes bounces and complaints to (from the configuration set's event destination)."""
        for resource in self.of_type("AWS::SES::ConfigurationSetEventDestination").values():
            topic = resource["Properties"]["EventDestination"].get("SnsDestination", {}).get("TopicARN")
            if isinstance(topic, dict) and "Ref" in topic:
                return topic["Ref"]
        return None

    def condition(self, name: str, parameters: Mapping[str, str]) -> bool:
        return bool(evaluate(self.doc.get("Conditions", {})[name], parameters, self.doc.get("Conditions", {})))


def evaluate(node: Any, refs: Mapping[str, Any], conditions: Mapping[str, Any] | None = None) -> Any:
    """Resolve the intrinsics the local stack needs: Ref, GetAtt, Sub (${Name} only), Equals, Not, And, Or, If and
    Condition."""
    conditions = conditions or {}
    if isinstance(node, dict) and len(node) == 1:
        ((name, arg),) = node.items()
        if name == "Ref":
            if arg not in refs:
                raise KeyError(f"!Ref {arg}: not known to the local stack")
            return refs[arg]
        if name == "Fn::GetAtt":
            return evaluate({"Ref": ".".join(arg)}, refs)  # provisioning records "Logical.Attribute" values
        if name == "Fn::Sub":
            return re.sub(r"\$\{([\w.:]+)\}", lambda m: str(evaluate({"Ref": m.group(1)}, refs)), arg)
        if name == "Fn::Equals":
            return evaluate(arg[0], refs, conditions) == evaluate(arg[1], refs, conditions)
        if name == "Fn::Not":
            return not evaluate(arg[0], refs, conditions)
        if name == "Fn::And":
            return all(evaluate(a, refs, conditions) for a in arg)
        if name == "Fn::Or":
            return any(evaluate(a, refs, conditions) for a in arg)
        if name in ("Condition",):
            return evaluate(conditions[arg], refs, conditions)
        if name == "Fn::If":
            return evaluate(arg[1] if evaluate(conditions[arg[0]], refs, conditions) else arg[2], refs, conditions)
    return node


def evaluate_deep(node: Any, refs: Mapping[str, Any]) -> Any:
    """`evaluate` everywhere inside a document (policies, event destinations)."""
    node = evaluate(node, refs)
    if isinstance(node, dict):
        return {k: evaluate_deep(v, refs) for k, v in node.items()}
    if isinstance(node, list):
        return [evaluate_deep(v, refs) for v in node]
    return node


def load_handler(function: Function) -> Callable[[dict, Any], Any]:
    """Import a function's handler from its CodeUri, under a module name of its own (every function has an app.py)."""
    module_name, attr = function.handler.rsplit(".", 1)
    spec = importlib.util.spec_from_file_location(f"function_{function.logical_id}", function.source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {function.source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, attr)
