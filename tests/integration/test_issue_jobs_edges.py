"""Issue jobs after their results and counts were sharded (issue 26 §1), at the edges a review found: what a
retried POST answers, a job from before the split when the shard count grows, and a member refused twice (once in
the old partition, once in a shard) by an old and a new runner at once during the deploy. Against DynamoDB Local."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.test_issue_jobs_shards import _drain, _job, _template


def _post(api: Any, merchant: Any, template_id: str, member_ids: list[str], key: str) -> tuple[int, Any]:
    return api.post(
        "/v1/admin/issue-jobs",
        {"template_id": template_id, "member_ids": member_ids},
        token=api.admin_token(merchant),
        headers={"idempotency-key": key},
    )


def test_a_create_retried_with_its_key_answers_the_jobs_counts_as_its_get_does(api: Any, merchant: Any) -> None:
    """The retry returns the job made by the first POST: with its counts summed from the shards, as GET and the
    list give them, not the job item's own (zero since the split)."""
    template_id = _template(api, merchant, stock=100)
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(3)]
    key = uuid.uuid4().hex
    status, first = _post(api, merchant, template_id, [*members, "nobody"], key)
    assert status == 201, first
    _drain()
    status, again = _post(api, merchant, template_id, [*members, "nobody"], key)
    assert status in (200, 201), again
    got = _job(api, merchant, first["job_id"])
    assert (got["issued"], got["failed"]) == (3, 1)
    assert (again["job_id"], again["issued"], again["failed"], again["status"]) == (
        first["job_id"],
        got["issued"],
        got["failed"],
        got["status"],
    )
