"""Modules loaded on first use (importlib's LazyLoader, the recipe in the importlib documentation).

A handler module names the domain modules it routes to with `lazy(...)`: Lambda's INIT then imports only the router,
the logger and the metrics, and each route loads what it needs (pydantic models, email-validator, the OpenAPI
validation machinery) the first time it is called. `make bench` measures the difference.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


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
