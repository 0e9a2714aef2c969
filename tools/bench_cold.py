"""Cold-start figures: each Lambda function's INIT against a bare boto3 handler, and the size of the built layer.

1. Cold init. Lambda's INIT imports the handler module in a fresh interpreter whose sys.path is, in order, the
   function's code, the layer (/opt/python, read-only) and the runtime (which ships boto3). We rebuild that here with
   the python3.13 the runtime uses (found like the Makefile does) and two directories: `.bench/runtime`, `pip install
   --target` of boto3 at the version installed in this venv (bytecode compiled at install, as in the runtime's own
   image); reused while the boto3 version and interpreter stay the same; and `.bench/layer`, the layer as `sam build`
   makes it (layers/common/Makefile: requirements, our package, bytecode made at build time), rebuilt on every run,
   for this machine's architecture (`PLATFORM=`: the real one is arm64). Each sample is a new `python3.13 -S -B`
   process: no site-packages, and no bytecode written at run time, because Lambda cannot write under /opt either; so
   what is not shipped compiled is compiled again by every sample, as by every Lambda cold start. The environment is
   minimal (fake credentials, the function's template variables). It times importing the handler module plus
   `boto3.client("sesv2")` and `boto3.client("dynamodb")`; the baseline ("bare") times the same without the handler
   import, so the ratio is what our code and the layer add to a handler every function would need anyway. Bare runs
   first and last in each round; a function's `ratio` is the median over rounds of its time divided by the mean of
   that round's two bare times (a slow spell of the machine then raises both sides), `ratio_of_medians` the plain
   quotient of medians. A second figure per function, `with_routes_ms`, also loads every module the handler names
   with `mailrelay.lazy` (what its routes load on their first request), so the cost moved out of INIT stays visible.
   Timings on a small VM are noisy: after one discarded warm-up round the targets run round-robin for
   BENCH_COLD_ROUNDS rounds (default 15) and each figure is a median, with p25/p75 and min/max for the spread.
   `python -X importtime` of each handler import (once) names the five modules with the most self time outside
   boto3/botocore/s3transfer/urllib3/dateutil/jmespath: where the extra time goes.
2. Layer size: bytes under .aws-sam/build/CommonLayer (`make sam-build` first if it is missing), with the five
   largest distributions under python/ (files listed in each dist-info RECORD; anything else by top-level name).
"""

from __future__ import annotations

import ast
import glob
import hashlib
import importlib.metadata
import json
import os
import shutil
import statistics
import subprocess
from pathlib import Path

from local.template import ROOT, Template, evaluate
from mailrelay.lazy import named_lazily

BENCH = ROOT / ".bench"
LAYER_MAKEFILE = ROOT / "layers/common/Makefile"
BUILT_LAYER = ROOT / ".aws-sam/build/CommonLayer"
ROUNDS = int(os.environ.get("BENCH_COLD_ROUNDS", "15"))
TARGET_RATIO, TARGET_MB = 1.3, 15
RUNTIME_PACKAGES = {"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "jmespath"}
BARE = "bare"


def python313() -> str:
    """The real python3.13 executable (not a pyenv shim): `python3.13` on PATH, else pyenv's."""
    pyenv = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    for candidate in [shutil.which("python3.13"), *sorted(glob.glob(f"{pyenv}/versions/3.13*/bin/python3.13"))]:
        if candidate:
            check = "import sys; assert sys.version_info[:2] == (3, 13); print(sys.executable)"
            found = subprocess.run([candidate, "-c", check], capture_output=True, text=True)
            if found.returncode == 0:
                return found.stdout.strip()
    raise SystemExit("bench_cold needs python3.13 (the Lambda runtime): on PATH or under ~/.pyenv/versions/3.13*")


def prepare(python: str) -> None:
    """`.bench/runtime` (boto3, kept while its stamp matches) and `.bench/layer` (the layer's own build, each run)."""
    boto3_version = importlib.metadata.version("boto3")
    stamp = hashlib.sha256(f"boto3=={boto3_version}\n{python}".encode()).hexdigest()
    if not ((BENCH / "stamp").is_file() and (BENCH / "stamp").read_text() == stamp):
        print(f"installing .bench/runtime with {python} ...", flush=True)
        shutil.rmtree(BENCH / "runtime", ignore_errors=True)
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"]
        subprocess.run([*pip, str(BENCH / "runtime"), f"boto3=={boto3_version}"], check=True)
        (BENCH / "stamp").write_text(stamp)
    print("building .bench/layer with layers/common/Makefile (this machine's wheels) ...", flush=True)
    make = ["make", "--no-print-directory", "-s", "-f", str(LAYER_MAKEFILE), "build-CommonLayer"]
    subprocess.run([*make, f"ARTIFACTS_DIR={BENCH / 'layer'}", "PLATFORM=", f"PYTHON={python}"], check=True)


def lazy_modules(code_dir: Path) -> list[str]:
    """The modules a handler names with `lazy("...")` (its routes load them on first use)."""
    found = []
    for path in code_dir.glob("*.py"):
        found += [name for node in ast.walk(ast.parse(path.read_text())) if (name := named_lazily(node))]
    return sorted(set(found))


def environment(template: Template, function: str | None) -> dict[str, str]:
    """Fake credentials, no ~/.aws files and no instance metadata (nothing is contacted), the template's variables."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_DEFAULT_REGION": "us-east-1"}
    env |= {key: "testing" for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    missing = str(BENCH / "no-such-file")
    env |= {"AWS_CONFIG_FILE": missing, "AWS_SHARED_CREDENTIALS_FILE": missing, "AWS_EC2_METADATA_DISABLED": "1"}
    if function:
        arn = "arn:aws:sns:us-east-1:123456789012:{}"
        refs = {k: arn.format(k) if r.get("Type") == "AWS::SNS::Topic" else k for k, r in template.resources.items()}
        refs |= template.parameter_defaults()
        env |= {k: str(evaluate(v, refs)) for k, v in template.functions[function].environment.items()}
    return env


def snippet(paths: list[Path], module: str | None, clients: bool = True, also: list[str] = ()) -> str:
    lines = ["import sys, time", f"sys.path[:] = {[str(p) for p in paths]!r} + [p for p in sys.path if p]"]
    lines += ["t0 = time.perf_counter()", f"import {module}" if module else ""]
    lines += [f"import {name}; dir({name})" for name in also]  # dir(): a lazy module executes on attribute access
    if clients:
        lines += ["import boto3", "boto3.client('sesv2'); boto3.client('dynamodb')"]
        lines += ["print('BENCH_MS=%.3f' % ((time.perf_counter() - t0) * 1000))"]
    return "\n".join(lines)


def run_once(python: str, code: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    """-S: no site-packages; -B: nothing compiled now is kept (as under Lambda's read-only /opt and /var/task)."""
    command = [python, "-S", "-B", *flags, "-c", code]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)


def last_line(text: str) -> str:
    return (text.strip().splitlines() or ["(no output)"])[-1]


def top_imports(stderr: str) -> list[dict]:
    rows = []
    for line in stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[0].strip().isdigit():
            module = parts[2].strip()
            if module.split(".")[0] not in RUNTIME_PACKAGES:
                rows.append({"module": module, "self_ms": int(parts[0]) / 1000, "cumulative_ms": int(parts[1]) / 1000})
    return sorted(rows, key=lambda r: r["self_ms"], reverse=True)[:5]


def spread(samples: list[float]) -> dict:
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive") if len(samples) > 1 else samples * 3
    stats = {"median_ms": median, "p25_ms": q1, "p75_ms": q3, "min_ms": min(samples), "max_ms": max(samples)}
    return {k: round(v, 1) for k, v in stats.items()}


def cold_init() -> dict:
    python = python313()
    prepare(python)
    template = Template()
    deps = [BENCH / "layer" / "python", BENCH / "runtime"]
    targets = {BARE: (snippet(deps, None), environment(template, None))}
    code = {}
    for name, fn in template.functions.items():  # as deployed: the handler's source only, no .pyc of a test run
        code[name] = BENCH / "functions" / name
        shutil.rmtree(code[name], ignore_errors=True)
        shutil.copytree(ROOT / fn.code_uri, code[name], ignore=shutil.ignore_patterns("__pycache__"))
        module, env = fn.handler.rsplit(".", 1)[0], environment(template, name)
        targets[name] = (snippet([code[name], *deps], module), env)
        routes = lazy_modules(code[name])
        targets[f"{name}+routes"] = (snippet([code[name], *deps], module, also=routes), env)
    samples: dict[str, list[float]] = {name: [] for name in targets}
    errors: dict[str, str] = {}
    paired: dict[str, list[float]] = {name: [] for name in targets}  # per round: sample / that round's bare
    order = [*targets, BARE]  # bare opens and closes each round: its baseline is the mean of the two
    for round_ in range(ROUNDS + 1):  # round 0 is the warm-up
        print(f"cold init: round {round_}/{ROUNDS}{' (warm-up)' if not round_ else ''}", flush=True)
        this_round: dict[str, list[float]] = {}
        for name in order:
            program, env = targets[name]
            done = run_once(python, program, env)
            found = [line for line in done.stdout.splitlines() if line.startswith("BENCH_MS=")]
            if done.returncode or not found:
                errors[name] = last_line(done.stderr)
            elif round_:
                this_round.setdefault(name, []).append(float(found[-1].removeprefix("BENCH_MS=")))
        for name, values in this_round.items():
            samples[name] += values
        if len(this_round.get(BARE, [])) == 2:
            baseline = statistics.fmean(this_round[BARE])
            for name in targets:
                if name != BARE and name in this_round:
                    paired[name].append(this_round[name][0] / baseline)
    bare = spread(samples[BARE]) if samples[BARE] else {"status": "error", "error": errors.get(BARE)}
    functions = {}
    for name, fn in template.functions.items():
        if not samples[name]:
            functions[name] = {"status": "error", "error": errors.get(name)}
            continue
        result = {"status": "ok", **spread(samples[name]), "rounds_ok": len(samples[name])}
        if name in errors:
            result["last_error"] = errors[name]
        if paired[name]:  # robust to the machine slowing down for a while: each round is its own baseline
            result["ratio"] = round(statistics.median(paired[name]), 2)
        if "median_ms" in bare:
            result["ratio_of_medians"] = round(result["median_ms"] / bare["median_ms"], 2)
        if samples[f"{name}+routes"]:
            result["with_routes_ms"] = spread(samples[f"{name}+routes"])["median_ms"]
        timed = snippet([code[name], *deps], fn.handler.rsplit(".", 1)[0], clients=False)
        result["top_imports"] = top_imports(run_once(python, timed, targets[name][1], "-X", "importtime").stderr)
        functions[name] = result
    method = (
        f"median of {ROUNDS} interleaved fresh `python3.13 -S -B` processes: handler import + sesv2 and dynamodb"
        " clients, sys.path = CodeUri, .bench/layer/python (built by layers/common/Makefile), .bench/runtime;"
        " ratio = median / median of bare boto3; with_routes_ms also loads the handler's lazy modules"
    )
    bare_ms = bare.get("median_ms")
    return {"method": method, "python": python, "rounds": ROUNDS, "bare_ms": bare_ms, "bare": bare} | {
        "functions": functions,
        "target_ratio": TARGET_RATIO,
    }


def layer_size() -> dict:
    if not BUILT_LAYER.is_dir():
        print("no .aws-sam/build/CommonLayer: running `make sam-build` ...", flush=True)
        built = subprocess.run(["make", "--no-print-directory", "sam-build"], cwd=ROOT, capture_output=True, text=True)
        if built.returncode or not BUILT_LAYER.is_dir():
            return {"status": "missing", "error": last_line(built.stderr or built.stdout), "target_mb": TARGET_MB}
    files = {p: p.lstat().st_size for p in BUILT_LAYER.rglob("*") if p.is_file() or p.is_symlink()}
    site = BUILT_LAYER / "python"
    owner: dict[Path, str] = {}
    for record in site.glob("*.dist-info/RECORD"):
        name = record.parent.name.split("-")[0]
        for row in record.read_text().splitlines():
            owner[(site / row.split(",")[0]).resolve()] = name
    sizes: dict[str, int] = {}
    for path, size in files.items():
        if path.is_relative_to(site):
            name = owner.get(path.resolve(), path.relative_to(site).parts[0])
            sizes[name] = sizes.get(name, 0) + size
    largest = sorted(sizes.items(), key=lambda kv: kv[1], reverse=True)[:5]
    total = sum(files.values())
    largest = [{"name": n, "bytes": b, "mb": round(b / 1e6, 1)} for n, b in largest]
    result = {"status": "ok", "path": str(BUILT_LAYER.relative_to(ROOT)), "bytes": total, "mb": round(total / 1e6, 1)}
    pyc = sum(size for path, size in files.items() if path.suffix == ".pyc")  # a partial set means an import wrote them
    return result | {"largest": largest, "pyc_bytes": pyc, "target_mb": TARGET_MB}


def run() -> dict:
    cold = cold_init()
    print(f"\n{'function':<22}{'median ms':>10}{'p25-p75':>16}{'ratio':>8}  vs {TARGET_RATIO}x   (+ routes' modules)")
    print(f"{'bare boto3':<22}{cold['bare'].get('median_ms', 'error'):>10}")
    for name, f in cold["functions"].items():
        if f["status"] != "ok":
            print(f"{name:<22}{'error':>10}  {f['error']}")
            continue
        verdict = "n/a" if "ratio" not in f else "PASS" if f["ratio"] <= TARGET_RATIO else "FAIL"
        iqr = f"{f['p25_ms']}-{f['p75_ms']}"
        routes = f" {f['with_routes_ms']:>8} ms" if "with_routes_ms" in f else ""
        print(f"{name:<22}{f['median_ms']:>10}{iqr:>16}{f.get('ratio', '-'):>8}  {verdict}{routes}")
    layer = layer_size()
    if layer["status"] == "ok":
        verdict = "PASS" if layer["mb"] <= TARGET_MB else "FAIL"
        print(f"\nlayer {layer['path']}: {layer['mb']} MB ({layer['bytes']} bytes) vs {TARGET_MB} MB  {verdict}")
        print("  largest: " + ", ".join(f"{p['name']} {p['mb']} MB" for p in layer["largest"]))
        print(f"  of which .pyc files: {layer['pyc_bytes'] / 1e6:.1f} MB")
    else:
        print(f"\nlayer: missing ({layer['error']})")
    return {"cold_init": cold, "layer": layer}


if __name__ == "__main__":
    results = run()
    print(json.dumps(results, indent=2))
