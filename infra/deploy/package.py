"""`make package`: the Lambda zip and SAM template, built offline with `chalice package`.

Chalice only packages `app.py`, `chalicelib/` and `vendor/`; the staging copy puts
`mini_program_api/` and `functions/` under `vendor/`, which lands at the zip's root.
Two measured changes are then made to the zip (see bench/README.md):

- botocore is removed: the Lambda Python runtime ships it, and it is most of the zip;
- .pyc files are added (unchecked-hash, so no mtime check): /var/task is read-only,
  so without them every cold start compiles every module again.

The console's built files (console/dist, `make console`) go in too, at console/dist beside
mini_program_api/, where routes/console.py serves them from under /console/.

Chalice's template has one function for every route; `template.by_audience` makes it one per audience
(lambdas/audiences.py: the member's, WeChat's callbacks', the till's, the console's), each path pointing at its own,
and the scheduled and stream functions' handlers at lambdas/jobs.py.

No AWS credentials are needed; the region comes from `chalice.json` (`kabao.region`).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROVIDED_BY_LAMBDA = "botocore"  # the package and its botocore-*.dist-info
CONSOLE_DIST = ROOT / "console" / "dist"


def config() -> dict:
    return json.loads((ROOT / "chalice.json").read_text())


def build(out: Path, stage: str = "prod", pyc: bool = True, keep_botocore: bool = False) -> Path:
    import app
    from infra.deploy.template import by_audience, merge_template, scheduled, served

    if not (CONSOLE_DIST / "index.html").is_file():
        raise FileNotFoundError(f"{CONSOLE_DIST} is not built: run `make console` (make package does)")
    cfg = config()
    environment = cfg["stages"][stage]["environment_variables"]
    throttle = cfg["stages"][stage].get("kabao", {}).get("throttle")
    if throttle is None:  # every deployed stage is throttled: without limits a flood is an unbounded bill
        raise ValueError(f"chalice.json: stage {stage} has no kabao.throttle (docs/deploy.md)")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stage_dir = Path(tmp) / "kabao"
        (stage_dir / ".chalice").mkdir(parents=True)
        shutil.copy(ROOT / "app.py", stage_dir)
        shutil.copy(ROOT / "requirements.txt", stage_dir)
        shutil.copy(ROOT / "chalice.json", stage_dir / ".chalice" / "config.json")
        for package in ("mini_program_api", "functions", "lambdas"):
            shutil.copytree(
                ROOT / package, stage_dir / "vendor" / package, ignore=shutil.ignore_patterns("__pycache__")
            )
        shutil.copytree(CONSOLE_DIST, stage_dir / "vendor" / "console" / "dist", ignore=shutil.ignore_patterns(".*"))
        merge = Path(tmp) / "merge.json"
        layer = cfg["stages"][stage].get("kabao", {}).get("secrets_extension_layer")  # None: AWS's for the region
        merge.write_text(
            json.dumps(
                merge_template(stage, environment, throttle, region=cfg["kabao"]["region"], extension_layer=layer)
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_DEFAULT_REGION=cfg["kabao"]["region"], AWS_EC2_METADATA_DISABLED="true")
        chalice = str(Path(sys.executable).with_name("chalice"))
        subprocess.run(
            [chalice, "package", "--stage", stage, "--merge-template", str(merge), str(Path(tmp) / "out")],
            cwd=stage_dir,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        sam = json.loads((Path(tmp) / "out" / "sam.json").read_text())
        sam = by_audience(sam, served(app.app), scheduled(app.app))
        (out / "sam.json").write_text(json.dumps(sam, indent=2, ensure_ascii=False) + "\n")
        _rewrite_zip(Path(tmp) / "out" / "deployment.zip", out / "deployment.zip", pyc, keep_botocore)
    return out


def _rewrite_zip(source: Path, target: Path, pyc: bool, keep_botocore: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(source) as zf:
            zf.extractall(tmp)
        if not keep_botocore:
            for entry in Path(tmp).iterdir():
                if entry.name == PROVIDED_BY_LAMBDA or entry.name.startswith(PROVIDED_BY_LAMBDA + "-"):
                    shutil.rmtree(entry)
        if pyc:
            compileall.compile_dir(tmp, quiet=2, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo(str(path.relative_to(tmp)), date_time=(2020, 1, 1, 0, 0, 0))
                    info.external_attr = 0o644 << 16  # Lambda needs world-readable files
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, path.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--out", default=str(ROOT / "build" / "package"))
    parser.add_argument("--no-pyc", action="store_true")
    parser.add_argument("--keep-botocore", action="store_true")
    args = parser.parse_args()
    out = build(Path(args.out), args.stage, pyc=not args.no_pyc, keep_botocore=args.keep_botocore)
    print(f"{out / 'sam.json'}\n{out / 'deployment.zip'} ({(out / 'deployment.zip').stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
