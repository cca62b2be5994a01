"""A merchant's admin jobs are listed newest first (jobs/records.py): their ids are hashes, so the list by id
put the job just created anywhere, on any page.

Given jobs created one after another (issue jobs, member jobs), when the admin pages through each list, then
the newest comes first and every job once; a job from before the lists were ordered (no `lsi1`) is left out
until `python -m infra.deploy.upgrade` gives it its place, after which it sits where its creation time puts it
and a second run gives nobody another.
"""

from __future__ import annotations

import uuid
from typing import Any

from mini_program_api.db.issue_jobs import IssueJob, issue_job_pk
from mini_program_api.db.member_jobs import MemberJob, member_jobs_pk

CASH = {"name": "回馈券", "kind": "CASH", "amount": 300, "per_member_limit": 1, "days_after_claim": 7, "listed": False}


def _walk(api: Any, path: str, token: str, field: str, limit: int) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        status, page = api.get(f"{path}?limit={limit}" + (f"&cursor={cursor}" if cursor else ""), token=token)
        assert status == 200, page
        ids += [job[field] for job in page[field.removesuffix("_id") + "s"]]
        cursor = page["cursor"]
        if not cursor:
            return ids


def test_issue_jobs_are_listed_newest_first_and_old_ones_once_upgraded(api: Any, merchant: Any, clock: Any) -> None:
    from infra.deploy import upgrade

    admin = api.admin_token(merchant)
    status, template = api.post("/v1/admin/coupon-templates", {**CASH, "total_stock": 100}, token=admin)
    assert status == 201, template
    member = api.member_with_card(merchant)["member"]["member_id"]
    made = []
    for _ in range(5):
        status, job = api.post(
            "/v1/admin/issue-jobs",
            {"template_id": template["template_id"], "member_ids": [member]},
            token=admin,
            headers={"idempotency-key": uuid.uuid4().hex},
        )
        assert status == 201, job
        made.append(job["job_id"])
        clock.advance(minutes=1)
    newest_first = made[::-1]
    assert _walk(api, "/v1/admin/issue-jobs", admin, "job_id", 2) == newest_first

    # The second job as an upgrade finds it: written before the lists had an order.
    IssueJob(issue_job_pk(merchant.merchant_id), made[1]).update(actions=[IssueJob.lsi1.remove()])
    assert _walk(api, "/v1/admin/issue-jobs", admin, "job_id", 10) == [j for j in newest_first if j != made[1]]
    assert api.get(f"/v1/admin/issue-jobs/{made[1]}", token=admin)[0] == 200  # read by id meanwhile
    assert upgrade.order_jobs() == 1
    assert upgrade.order_jobs() == 0
    assert _walk(api, "/v1/admin/issue-jobs", admin, "job_id", 3) == newest_first


def test_member_jobs_are_listed_newest_first(api: Any, merchant: Any, clock: Any) -> None:
    admin = api.admin_token(merchant)
    made = []
    for _ in range(3):
        status, job = api.post(
            "/v1/admin/member-jobs",
            {"kind": "EXPORT", "format": "csv"},
            token=admin,
            headers={"idempotency-key": uuid.uuid4().hex},
        )
        assert status == 201, job
        made.append(job["job_id"])
        clock.advance(seconds=30)
    assert _walk(api, "/v1/admin/member-jobs", admin, "job_id", 2) == made[::-1]
    stored = MemberJob.get(member_jobs_pk(merchant.merchant_id), made[0], consistent_read=True)
    assert stored.lsi1 is not None and made[0] in stored.lsi1
