"""Modules loaded on first use (importlib's LazyLoader, the recipe in the importlib documentation).

A handler module names the domain modules it routes to with `lazy(...)`: Lambda's INIT then imports only the router,
the logger and the metrics, and each route loads what it needs (pydantic models, email-validator, the OpenAPI
validation machinery) the first time it is called. `make bench` measures the difference.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ast


def named_lazily(node: ast.AST) -> str | None:
    """The module a `lazy("...")` call in source code names (for tools reading handlers: the IAM test, the bench)."""
    import ast  # tools only: not part of any function's INIT

    call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "lazy"
    if call and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def lazy(name: str) -> ModuleType:
    """The module `name`, executed on first attribute access (at once if it is imported already)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:  # as an import would: `mailrelay.domain.relay` is also reachable as an attribute of its package
        setattr(sys.modules[parent], child, module)
    return module
