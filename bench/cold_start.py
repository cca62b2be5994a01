"""Cold start: a fresh interpreter importing the packaged app vs `import boto3` alone.

Builds the deployment zip twice (with and without .pyc; botocore removed in
both, as Lambda's runtime provides it), unpacks each like /var/task, and times
`import app` in new interpreters that see only the package plus the runtime's
botocore. PYTHONDONTWRITEBYTECODE=1 stands in for Lambda's read-only /var/task:
without shipped .pyc, every cold start compiles every module. Peak RSS is
the same process's VmHWM.

`import app` declares routes and schedules; each handler imports the domain modules it
calls on its first call (tests/infra/test_cold_start.py holds that). So that the cost is shown
and not just moved, two more variants import app and then the modules handlers import
(found in their source): a member's first requests', and every handler's, which is what a
container holds once it has served every route and schedule.

The variants run interleaved (boto3, app, app without .pyc, boto3, ...) so that
the load of a shared machine falls on all of them alike; medians of RUNS,
printed as ratios to boto3. Then `python -X importtime` of the shipped app names
the ten top-level packages that cost the most (cumulative, median of 3).
"""
from __future__ import annotations

import ast
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_ROUTES = ROOT / "mini_program_api" / "routes"
# A member's first requests (/v1/me and its sub-resources, with the auth and views they go through), and
# every handler: what a container holds once it has served every route and schedule.
_HANDLER_SETS = {
    "app + member handler imports": [_ROUTES / "endpoint.py", _ROUTES / "views.py", _ROUTES / "me.py"],
    "app + every handler import": [*_ROUTES.glob("*.py"), *(ROOT / "functions").glob("*.py")],
}
RUNS = 11
TOP = 10
# Peak memory is VmHWM: ru_maxrss survives exec, so a child would report its parent's peak (the bench's own).
_PROBE = """
import sys, time
sys.path[:0] = {paths!r}
t = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t
print(elapsed, next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
"""


def _command(module: str, paths: list[str], no_bytecode: bool, site: bool) -> tuple[list[str], dict[str, str]]:
    env = {"PATH": os.environ.get("PATH", ""), "KABAO_STAGE": "prod"}
    if no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    args = [sys.executable] + ([] if site else ["-S"]) + ["-c", _PROBE.format(paths=paths, module=module)]
    return args, env


def handler_imports(paths: list[Path]) -> list[str]:
    """The modules that these route and schedule modules' handlers import when first called: the imports
    inside their functions (endpoint.py's pydantic and request models aside), read from source."""
    found: set[str] = set()
    for path in paths:
        package = ".".join(path.relative_to(ROOT).parent.parts)
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, ast.FunctionDef):
                for node in ast.walk(fn):
                    if isinstance(node, ast.ImportFrom) and (node.level or node.module.startswith("mini_program_api")):
                        source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                        for alias in node.names:  # `from .. import members` names a module, `from ..auth import X` not
                            module = ROOT.joinpath(*source.split("."), alias.name)
                            is_module = module.with_suffix(".py").exists() or module.is_dir()
                            found.add(f"{source}.{alias.name}" if is_module else source)
    return sorted(found - {"mini_program_api.routes.responses", "mini_program_api.routes.schemas"})


def _once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    seconds, kib = out.stdout.split()
    return float(seconds) * 1000, int(kib) / 1024


def _top_imports(args: list[str], env: dict[str, str]) -> list[tuple[str, float]]:
    """Import time per top-level package (the self time of all its modules summed), median of 3 runs."""
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(3):
        out = subprocess.run([args[0], "-X", "importtime", *args[1:]], env=env, capture_output=True, text=True,
                             check=True, cwd=tempfile.gettempdir())
        totals: dict[str, float] = defaultdict(float)
        for line in out.stderr.splitlines():
            if line.startswith("import time:") and "|" in line:
                own, _, name = line.removeprefix("import time:").split("|")
                if own.strip().isdigit():
                    totals[name.strip().split(".")[0]] += int(own) / 1000
        for name, ms in totals.items():
            samples[name].append(ms)
    ranked = [(name, statistics.median(ms + [0.0] * (3 - len(ms)))) for name, ms in samples.items()]
    return sorted(ranked, key=lambda r: -r[1])[:TOP]


def main() -> None:
    import botocore

    from infra.deploy.package import build

    with tempfile.TemporaryDirectory() as tmp:
        runtime = Path(tmp) / "runtime"
        runtime.mkdir()
        (runtime / "botocore").symlink_to(Path(botocore.__file__).parent)
        variants = [("import boto3 (baseline)", _command("boto3", [], False, True), None)]
        for label, pyc in (("import app, .pyc shipped", True), ("import app, no .pyc", False)):
            out = build(Path(tmp) / label.replace(" ", "_"), pyc=pyc)
            task = Path(tmp) / f"task-{pyc}"
            zipfile.ZipFile(out / "deployment.zip").extractall(task)
            size = (out / "deployment.zip").stat().st_size / 1024
            variants.append((label, _command("app", [str(task), str(runtime)], not pyc, False), size))
            if pyc:
                for name, paths in _HANDLER_SETS.items():
                    modules = ", ".join(["app", *handler_imports(paths)])
                    variants.append((name, _command(modules, [str(task), str(runtime)], False, False), size))
        with_botocore = build(Path(tmp) / "with_botocore", pyc=True, keep_botocore=True)
        botocore_kib = (with_botocore / "deployment.zip").stat().st_size / 1024

        measured: list[list[tuple[float, float]]] = [[] for _ in variants]
        for _ in range(RUNS):
            for i, (_, (args, env), _) in enumerate(variants):
                measured[i].append(_once(args, env))
        tops = [(label, _top_imports(*command)) for label, command, _ in variants[1:4:2]]

    rows = [(label, statistics.median(m[0] for m in runs), statistics.median(m[1] for m in runs), size)
            for (label, _, size), runs in zip(variants, measured)]
    base_ms, base_mb = rows[0][1], rows[0][2]
    print(f"\nCold start (fresh interpreter, interleaved, median of {RUNS})")
    print(f"{'variant':28} {'import ms':>9} {'x boto3':>8} {'peak MiB':>9} {'x boto3':>8} {'zip KiB':>8}")
    for label, ms, mb, size in rows:
        print(f"{label:28} {ms:9.0f} {ms / base_ms:8.2f} {mb:9.1f} {mb / base_mb:8.2f} {size or 0:8.0f}")
    ratios = sorted(a[0] / b[0] for a, b in zip(measured[1], measured[0]))
    print(f"app/.pyc vs boto3 per round: min {ratios[0]:.2f}, median {statistics.median(ratios):.2f}, "
          f"max {ratios[-1]:.2f}")
    print(f"zip with botocore kept: {botocore_kib:.0f} KiB ({botocore_kib / rows[1][3]:.2f}x the shipped zip); "
          f".pyc makes the import {rows[-1][1] / rows[1][1]:.2f}x faster")
    for label, top in tops:
        print(f"\nTen most expensive packages in {label!r} (-X importtime, self ms summed per package, median of 3)")
        for name, ms in top:
            print(f"  {name:40} {ms:7.1f}")


if __name__ == "__main__":
    main()
