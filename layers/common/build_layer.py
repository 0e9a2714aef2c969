"""Bytecode for the layer, made once at build time (layers/common/Makefile runs this with python3.13).

Lambda mounts a layer read-only under /opt, so Python cannot cache what it compiles there: without .pyc files in the
layer, every cold start compiles every module it imports (measured on this project: the relay's INIT goes from 1.2x
to 1.9x a bare boto3 handler; `make bench`). So:

- our package `mailrelay` keeps its sources and gets __pycache__/*.pyc in `unchecked-hash` mode: used as they are,
  whatever the file times in the deployed zip (the default, timestamp mode, would find them stale and compile again);
- third-party packages are shipped as bytecode only (`module.pyc` in place of `module.py`, which Python imports
  directly): the layer stays as small as with sources alone. Their tracebacks then show file and line, not the line's
  text; ours keep theirs.
- what a build leaves behind that Lambda never runs is dropped: console scripts (bin/), stray __pycache__ trees.
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import sys
from pathlib import Path

OURS = {"mailrelay"}


def build(root: Path) -> None:
    shutil.rmtree(root / "bin", ignore_errors=True)
    for cache in list(root.rglob("__pycache__")):
        shutil.rmtree(cache)
    for entry in root.iterdir():
        if entry.name.endswith((".dist-info", ".egg-info")):
            continue
        if entry.name in OURS:
            ok = compileall.compile_dir(
                entry, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH, workers=0
            )
        else:
            ok = _bytecode_only(entry)
        if not ok:
            raise SystemExit(f"could not compile {entry}")


def _bytecode_only(entry: Path) -> bool:
    sources = [entry] if entry.suffix == ".py" else list(entry.rglob("*.py")) if entry.is_dir() else []
    for source in sources:
        try:
            py_compile.compile(str(source), cfile=str(source.with_suffix(".pyc")), doraise=True)
        except py_compile.PyCompileError as exc:
            if "SyntaxError" in str(exc) and "/tests/" in str(source):  # never imported
                continue
            print(exc, file=sys.stderr)
            return False
        source.unlink()
    return True


if __name__ == "__main__":
    if sys.version_info[:2] != (3, 13):
        raise SystemExit("the layer's bytecode must be made by python3.13, the runtime's version")
    build(Path(sys.argv[1]))
