"""Cold start: a fresh interpreter importing the packaged app vs `import boto3` alone.

Builds the deployment zip twice (with and without .pyc; botocore removed in
both, as Lambda's runtime provides it), unpacks each like /var/task, and times
`import app` in new interpreters that see only the package plus the runtime's
botocore. PYTHONDONTWRITEBYTECODE=1 stands in for Lambda's read-only /var/task:
without shipped .pyc, every cold start compiles every module. Peak RSS is
ru_maxrss of the same process. Medians of RUNS, printed as ratios to boto3.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

RUNS = 7
_PROBE = """
import resource, sys, time
sys.path[:0] = {paths!r}
t = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _measure(module: str, paths: list[str], no_bytecode: bool, site: bool) -> tuple[float, float]:
    env = {"PATH": os.environ.get("PATH", ""), "KABAO_STAGE": "prod"}
    if no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    args = [sys.executable] + ([] if site else ["-S"]) + ["-c", _PROBE.format(paths=paths, module=module)]
    times, peaks = [], []
    for _ in range(RUNS):
        out = subprocess.run(args, env=env, capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
        seconds, kib = out.stdout.split()
        times.append(float(seconds))
        peaks.append(int(kib) / 1024)
    return statistics.median(times) * 1000, statistics.median(peaks)


def main() -> None:
    import botocore

    from infra.deploy.package import build

    with tempfile.TemporaryDirectory() as tmp:
        runtime = Path(tmp) / "runtime"
        runtime.mkdir()
        (runtime / "botocore").symlink_to(Path(botocore.__file__).parent)
        rows = [("import boto3 (baseline)", *_measure("boto3", [], False, True), None)]
        for label, pyc in (("import app, .pyc shipped", True), ("import app, no .pyc", False)):
            out = build(Path(tmp) / label.replace(" ", "_"), pyc=pyc)
            task = Path(tmp) / f"task-{pyc}"
            zipfile.ZipFile(out / "deployment.zip").extractall(task)
            size = (out / "deployment.zip").stat().st_size / 1024
            rows.append((label, *_measure("app", [str(task), str(runtime)], not pyc, False), size))
        with_botocore = build(Path(tmp) / "with_botocore", pyc=True, keep_botocore=True)
        botocore_kib = (with_botocore / "deployment.zip").stat().st_size / 1024

    base_ms, base_mb = rows[0][1], rows[0][2]
    print(f"\nCold start (fresh interpreter, median of {RUNS})")
    print(f"{'variant':28} {'import ms':>9} {'x boto3':>8} {'peak MiB':>9} {'x boto3':>8} {'zip KiB':>8}")
    for label, ms, mb, size in rows:
        print(f"{label:28} {ms:9.0f} {ms / base_ms:8.2f} {mb:9.1f} {mb / base_mb:8.2f} {size or 0:8.0f}")
    print(f"zip with botocore kept: {botocore_kib:.0f} KiB ({botocore_kib / rows[1][3]:.2f}x the shipped zip); "
          f".pyc makes the import {rows[2][1] / rows[1][1]:.2f}x faster")


if __name__ == "__main__":
    main()
