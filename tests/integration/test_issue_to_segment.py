"""An issue job to an RFM segment (issue 24 item 8, "issue a coupon to this segment"): its members come from the
segment's roster partition as the nightly scoring filed them, the filter's other criteria still hold, a page at a
time; an unknown segment is refused and creates nothing."""

from __future__ import annotations

import typing
import uuid
from typing import Any

from mini_program_api.coupons import issue_jobs
from mini_program_api.db.issue_jobs import IssueJob, issue_job_pk
from mini_program_api.db.models import PROFILE, Member, member_pk
from mini_program_api.db.segments import RFM_SEGMENTS
from mini_program_api.reports import rfm
from mini_program_api.routes import schemas

from .test_issue_jobs import _drain, _held, _job, _post_job, _template


def _sell(api: Any, merchant: Any, staff: str, member_id: str, amount: int) -> None:
    token = api.token(merchant, member_id)
    status, body = api.post(
        "/v1/staff/checkout",
        {"member_code": api.member_code(token), "amount": amount},
        token=staff,
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    assert status == 200, body


def test_a_job_to_a_segment_gives_its_members_one_each(api: Any, merchant: Any) -> None:
    # Given two big spenders, one small one and one who never bought, scored by the nightly RFM run
    staff = api.staff_token(merchant, "s1")
    big, big_gold, small, never = (api.member_with_card(merchant)["member"]["member_id"] for _ in range(4))
    for member_id in (big, big_gold):
        for _ in range(3):
            _sell(api, merchant, staff, member_id, 20000)
    _sell(api, merchant, staff, small, 500)
    Member(member_pk(merchant.merchant_id, big_gold), PROFILE).update(actions=[Member.tier_id.set("gold")])
    admin = api.admin_token(merchant)
    thresholds = {"r": [30, 60, 90, 180], "f": [1, 2, 3, 4], "m": [1000, 5000, 10000, 50000]}
    assert api.call("PUT", "/v1/admin/reports/rfm-thresholds", thresholds, token=admin)[0] == 200
    assert rfm.run(merchant.merchant_id).phase == "DONE"
    template_id = _template(api, merchant)

    # When an admin issues to 重要价值, and to 重要价值 in the gold tier
    status, segment_job = _post_job(api, merchant, {"template_id": template_id, "filter": {"segment": "重要价值"}})
    assert status == 201, segment_job
    status, gold_job = _post_job(
        api, merchant, {"template_id": template_id, "filter": {"segment": "重要价值", "tier_ids": ["gold"]}}
    )
    assert status == 201, gold_job
    _drain(page_size=1)  # a page per member: the cursor walks the segment

    # Then each member of the segment holds one, the gold one a second, nobody else any
    first, second = _job(api, merchant, segment_job["job_id"]), _job(api, merchant, gold_job["job_id"])
    assert (first["status"], first["scanned"], first["issued"], first["failed"]) == ("DONE", 2, 2, 0)
    assert first["filter"] == {"segment": "重要价值"}
    assert (second["status"], second["scanned"], second["issued"]) == ("DONE", 2, 1)
    assert [_held(merchant, m, template_id) for m in (big, big_gold, small, never)] == [1, 2, 0, 0]


def test_an_unknown_segment_is_refused_and_creates_nothing(api: Any, merchant: Any) -> None:
    template_id = _template(api, merchant)
    status, body = _post_job(api, merchant, {"template_id": template_id, "filter": {"segment": "高价值"}})
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert list(IssueJob.query(issue_job_pk(merchant.merchant_id))) == []
    # the domain refuses it too (a caller other than the route), and the route's list is the domain's
    from mini_program_api.platform.auth import Principal
    from mini_program_api.platform.errors import KabaoError

    actor = Principal(merchant.merchant_id, "admin-1", "admin")
    try:
        issue_jobs.create(actor, template_id, None, issue_jobs.Filter(segment="高价值"), uuid.uuid4().hex)
        raise AssertionError("an unknown segment was taken")
    except KabaoError as error:
        assert error.code == "VALIDATION_ERROR"
    assert typing.get_args(schemas._Segment) == RFM_SEGMENTS
