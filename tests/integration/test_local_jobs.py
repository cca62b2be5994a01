"""`python -m infra.local.jobs run <name>` in a second terminal runs a scheduled function against the running
stack (issue 23 item 5): here the test's own stack stands for `make dev`'s, through the same environment file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.local import jobs
from infra.local.stack import environment
from mini_program_api.coupons import issue_jobs

ROOT = Path(__file__).resolve().parents[2]
# The CLI's process keeps this test's date (KABAO_TEST_EPOCH moves it; tests/timeline.py), as the terminals of
# one machine share theirs.
CLI = (
    "import sys; from tests.timeline import travel_to_epoch; travel_to_epoch(); from infra.local.jobs import main; "
    "sys.exit(main(sys.argv[1:]))"
)


def _cli(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "KABAO_DEV_ENV_FILE": str(env_file),
        "KABAO_TEST_EPOCH": datetime.now(UTC).isoformat(),
    }
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_run_issue_jobs_run_from_a_second_terminal_finishes_an_issue_job(
    api: Any, merchant: Any, tmp_path: Path
) -> None:
    admin = api.admin_token(merchant)
    status, template = api.post(
        "/v1/admin/coupon-templates",
        {
            "name": "回馈券",
            "kind": "CASH",
            "amount": 300,
            "per_member_limit": 1,
            "days_after_claim": 7,
            "listed": False,
            "total_stock": 10,
        },
        token=admin,
    )
    assert status == 201, template
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    status, job = api.post(
        "/v1/admin/issue-jobs",
        {"template_id": template["template_id"], "member_ids": [member_id]},
        token=admin,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 201, job
    assert api.get(f"/v1/admin/issue-jobs/{job['job_id']}", token=admin)[1]["status"] == issue_jobs.RUNNING

    env_file = jobs.write_environment(
        jobs.product_environment(dict(os.environ), environment("", "", "")), tmp_path / "dev-env.json"
    )
    assert "AWS_PROFILE" not in json.loads(env_file.read_text())  # the product's settings only
    listed = _cli(env_file, "list")
    assert listed.returncode == 0, listed.stderr
    assert "issue_jobs_run" in listed.stdout and "reconcile_topups" in listed.stdout
    ran = _cli(env_file, "run", "issue_jobs_run")
    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout.strip().splitlines()[-1])
    assert answer["job"] == "issue_jobs_run" and answer["seconds"] >= 0
    assert (answer["report"]["jobs"], answer["report"]["issued"], answer["report"]["failed"]) == (1, 1, [])
    done = api.get(f"/v1/admin/issue-jobs/{job['job_id']}", token=admin)[1]
    assert (done["status"], done["issued"]) == (issue_jobs.DONE, 1)

    unknown = _cli(env_file, "run", "no_such_job")
    assert unknown.returncode == 2 and "issue_jobs_run" in unknown.stderr
