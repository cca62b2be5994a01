"""Issue 13: issue a coupon template to a list of members or a filter, as a resumable admin job.
Over HTTP for the admin side; the scheduled runner is driven directly, page by page, against DynamoDB Local."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

from mini_program_api.coupons import claims, issue_jobs
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.issue_jobs import IssueJob, issue_job_pk
from mini_program_api.db.models import PROFILE, Member, member_pk
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError

CASH = {"name": "回馈券", "kind": "CASH", "amount": 300, "per_member_limit": 1, "days_after_claim": 7, "listed": False}


def _template(api: Any, merchant: Any, stock: int = 100, **over: Any) -> str:
    status, body = api.post(
        "/v1/admin/coupon-templates", {**CASH, "total_stock": stock, **over}, token=api.admin_token(merchant)
    )
    assert status == 201, body
    return str(body["template_id"])


def _post_job(
    api: Any, merchant: Any, body: dict[str, Any], key: str | None = None, token: str | None = None
) -> tuple[int, Any]:
    return api.post(
        "/v1/admin/issue-jobs",
        body,
        token=token or api.admin_token(merchant),
        headers={"idempotency-key": key or uuid.uuid4().hex},
    )


def _job(api: Any, merchant: Any, job_id: str) -> dict[str, Any]:
    status, body = api.get(f"/v1/admin/issue-jobs/{job_id}", token=api.admin_token(merchant))
    assert status == 200, body
    return body


def _held(merchant: Any, member_id: str, template_id: str) -> int:
    return sum(
        1
        for c in Coupon.query(
            member_pk(merchant.merchant_id, member_id), Coupon.sk.startswith("COUPON#"), consistent_read=True
        )
        if c.template_id == template_id
    )


def _set(merchant: Any, member_id: str, **values: Any) -> None:
    """Test setup only: put a member in a tier, give a birthday or an old last purchase."""
    Member(member_pk(merchant.merchant_id, member_id), PROFILE).update(
        actions=[getattr(Member, k).set(v) for k, v in values.items()]
    )


def _drain(**kw: Any) -> None:
    for _ in range(50):
        if not issue_jobs.run(**kw).jobs:
            return
    raise AssertionError("the jobs never finished")


def test_list_job_gives_each_member_one_resumes_and_counts_what_members_hold(
    api: Any, merchant: Any, make_merchant: Any
) -> None:
    template_id = _template(api, merchant)
    cardholders = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(5)]
    no_card = api.login(merchant)["member"]["member_id"]
    stranger = api.member_with_card(make_merchant())["member"]["member_id"]  # another merchant's member
    ids = [*cardholders, no_card, stranger, "nobody", cardholders[0]]
    key = uuid.uuid4().hex
    status, job = _post_job(api, merchant, {"template_id": template_id, "member_ids": ids}, key)
    assert status == 201 and job["status"] == "RUNNING" and job["member_count"] == 8, job
    # The same POST again (a retry) is the same job; the key with another body is refused.
    assert _post_job(api, merchant, {"template_id": template_id, "member_ids": ids}, key) == (201, job)
    status, body = _post_job(api, merchant, {"template_id": template_id, "member_ids": ids[:2]}, key)
    assert (status, body["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    day = clock.local_date(merchant.timezone).isoformat()
    audited = [
        r
        for r in api.get(f"/v1/admin/audit?day={day}", token=api.admin_token(merchant))[1]["records"]
        if r["action"] == "ISSUE_JOB_CREATED"
    ]
    assert [(r["target"], r["detail"]["template_id"]) for r in audited] == [(job["job_id"], template_id)]

    issue_jobs.run(page_size=3, max_pages=1)
    partial = _job(api, merchant, job["job_id"])
    assert (partial["status"], partial["scanned"], partial["issued"]) == ("RUNNING", 3, 3)
    # A runner that died after giving a page but before saving its cursor: the page is done again.
    stored = IssueJob.get(issue_job_pk(merchant.merchant_id), job["job_id"])
    stored.update(actions=[IssueJob.cursor.remove()])
    issue_jobs.run(page_size=3, max_pages=1)
    assert _job(api, merchant, job["job_id"])["issued"] == 3
    _drain(page_size=3)

    done = _job(api, merchant, job["job_id"])
    assert (done["status"], done["issued"], done["failed"]) == ("DONE", 5, 3), done
    held = {m: _held(merchant, m, template_id) for m in cardholders}
    assert held == {m: 1 for m in cardholders} and sum(held.values()) == done["issued"]
    status, page = api.get(f"/v1/admin/issue-jobs/{job['job_id']}/results?limit=4", token=api.admin_token(merchant))
    assert status == 200 and len(page["results"]) == 4 and page["cursor"]
    status, rest = api.get(
        f"/v1/admin/issue-jobs/{job['job_id']}/results?limit=10&cursor={page['cursor']}",
        token=api.admin_token(merchant),
    )
    failures = {r["member_id"]: r["error"] for r in page["results"] + rest["results"] if r["status"] == "FAILED"}
    assert failures == {no_card: "CARD_NOT_OPEN", stranger: "MEMBER_NOT_FOUND", "nobody": "MEMBER_NOT_FOUND"}
    status, listed = api.get("/v1/admin/issue-jobs", token=api.admin_token(merchant))
    assert [j["job_id"] for j in listed["jobs"]] == [job["job_id"]]


def test_filter_job_finds_members_through_the_cardholder_index(api: Any, merchant: Any) -> None:
    template_id = _template(api, merchant)
    a, b, c, d = (api.member_with_card(merchant)["member"]["member_id"] for _ in range(4))
    _set(merchant, a, tier_id="gold", birthday="1990-03-14")
    _set(merchant, b, tier_id="normal", birthday="1991-03-02")
    _set(merchant, c, tier_id="gold")
    _set(merchant, d, tier_id="gold", birthday="1985-03-30", last_spend_at=clock.now() - timedelta(days=200))
    status, march_gold = _post_job(
        api, merchant, {"template_id": template_id, "filter": {"tier_ids": ["gold"], "birthday_month": 3}}
    )
    assert status == 201, march_gold
    status, dormant = _post_job(api, merchant, {"template_id": template_id, "filter": {"dormant": True}})
    assert status == 201, dormant
    _drain(page_size=2)
    first, second = _job(api, merchant, march_gold["job_id"]), _job(api, merchant, dormant["job_id"])
    assert (first["status"], first["scanned"], first["issued"], first["failed"]) == ("DONE", 4, 2, 0)
    assert first["filter"] == {"tier_ids": ["gold"], "birthday_month": 3}
    assert (second["issued"], second["failed"]) == (1, 0)
    assert [_held(merchant, m, template_id) for m in (a, b, c, d)] == [1, 0, 0, 2]


def test_sold_out_members_fail_alone_and_a_failing_page_defers_only_its_job(
    api: Any, merchant: Any, monkeypatch: Any
) -> None:
    scarce, plenty = _template(api, merchant, stock=2), _template(api, merchant)
    ids = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(4)]
    _, sold = _post_job(api, merchant, {"template_id": scarce, "member_ids": ids})
    _, broken = _post_job(api, merchant, {"template_id": plenty, "member_ids": ids})
    real_issue = claims.issue

    def database_down_for_plenty(merchant_id: str, member_id: str, template: Any, *args: Any, **kw: Any) -> Any:
        if template.template_id == plenty:
            raise KabaoError("DATABASE_UNAVAILABLE", "no answer")
        return real_issue(merchant_id, member_id, template, *args, **kw)

    monkeypatch.setattr(claims, "issue", database_down_for_plenty)
    report = issue_jobs.run(page_size=10)
    assert report.failed == ["DATABASE_UNAVAILABLE"]
    done, waiting = _job(api, merchant, sold["job_id"]), _job(api, merchant, broken["job_id"])
    assert (done["status"], done["issued"], done["failed"]) == ("DONE", 2, 2)
    assert sum(_held(merchant, m, scarce) for m in ids) == 2
    assert waiting["status"] == "RUNNING" and waiting["last_error"].startswith("DATABASE_UNAVAILABLE")
    assert waiting["issued"] == 0 and waiting["failed"] == 0  # nobody was marked failed for the database
    # Deferred with backoff: not retried at once, and retried once the backoff is over.
    assert issue_jobs.run(page_size=10).jobs == 0
    monkeypatch.setattr(claims, "issue", real_issue)
    issue_jobs.run(now=clock.now() + timedelta(minutes=11), page_size=10)
    after = _job(api, merchant, broken["job_id"])
    assert (after["status"], after["issued"], after["last_error"]) == ("DONE", 4, None)


def test_two_runners_at_once_never_give_a_member_two(api: Any, merchant: Any) -> None:
    template_id = _template(api, merchant)
    ids = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(6)]
    _, job = _post_job(api, merchant, {"template_id": template_id, "member_ids": ids})
    barrier = threading.Barrier(3)

    def runner() -> None:
        barrier.wait()
        _drain(page_size=2)

    threads = [threading.Thread(target=runner) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = _job(api, merchant, job["job_id"])
    assert (done["status"], done["issued"], done["failed"]) == ("DONE", 6, 0)
    assert [_held(merchant, m, template_id) for m in ids] == [1] * 6


def test_a_paused_template_holds_the_job_until_resumed(api: Any, merchant: Any) -> None:
    template_id = _template(api, merchant)
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    _, job = _post_job(api, merchant, {"template_id": template_id, "member_ids": [member_id]})
    admin = api.admin_token(merchant)
    assert api.post(f"/v1/admin/coupon-templates/{template_id}/pause", token=admin)[0] == 200
    assert issue_jobs.run().failed == ["TEMPLATE_NOT_USABLE"]
    assert _job(api, merchant, job["job_id"])["status"] == "RUNNING" and _held(merchant, member_id, template_id) == 0
    assert api.post(f"/v1/admin/coupon-templates/{template_id}/resume", token=admin)[0] == 200
    issue_jobs.run(now=clock.now() + timedelta(minutes=11))
    assert _job(api, merchant, job["job_id"])["issued"] == 1 and _held(merchant, member_id, template_id) == 1


BAD_JOBS = [
    ({"template_id": "CTnope", "member_ids": ["m1"]}, 404, "TEMPLATE_NOT_FOUND"),
    ({"template_id": "{good}", "member_ids": ["m1"], "filter": {"dormant": True}}, 400, "VALIDATION_ERROR"),
    ({"template_id": "{good}"}, 400, "VALIDATION_ERROR"),
    ({"template_id": "{good}", "filter": {}}, 400, "VALIDATION_ERROR"),
    ({"template_id": "{good}", "filter": {"tier_ids": ["platinum"]}}, 400, "VALIDATION_ERROR"),
    ({"template_id": "{good}", "filter": {"birthday_month": 13}}, 400, "VALIDATION_ERROR"),
    ({"template_id": "{good}", "member_ids": []}, 400, "VALIDATION_ERROR"),
    ({"template_id": "{good}", "member_ids": ["m"] * 1001}, 400, "VALIDATION_ERROR"),
    ({"template_id": "{reward}", "member_ids": ["m1"]}, 409, "TEMPLATE_NOT_USABLE"),
]


def test_bad_jobs_are_refused_and_create_nothing(api: Any, merchant: Any) -> None:
    names = {"{good}": _template(api, merchant), "{reward}": _template(api, merchant, points_price=10, listed=True)}
    for body, status, code in BAD_JOBS:
        body = {**body, "template_id": names.get(body["template_id"], body["template_id"])}
        result = _post_job(api, merchant, body)
        assert (result[0], result[1]["error"]["code"]) == (status, code), (body, result)
    assert api.get("/v1/admin/issue-jobs", token=api.admin_token(merchant))[1]["jobs"] == []


def test_issue_jobs_are_for_this_merchants_admins_only(api: Any, merchant: Any, make_merchant: Any) -> None:
    template_id = _template(api, merchant)
    _, job = _post_job(api, merchant, {"template_id": template_id, "member_ids": ["m1"]})
    member = api.member_with_card(merchant)
    staff = api.staff_token(merchant)
    other_admin = api.admin_token(make_merchant())
    for token in (member["token"], staff):
        assert _post_job(api, merchant, {"template_id": template_id, "member_ids": ["m1"]}, token=token)[0] == 403
        assert api.get("/v1/admin/issue-jobs", token=token)[0] == 403
        assert api.get(f"/v1/admin/issue-jobs/{job['job_id']}", token=token)[0] == 403
    assert api.get(f"/v1/admin/issue-jobs/{job['job_id']}", token=other_admin)[0] == 404
    assert api.get(f"/v1/admin/issue-jobs/{job['job_id']}/results", token=other_admin)[0] == 404
    # Another merchant's template cannot be issued from here.
    status, body = _post_job(api, merchant, {"template_id": template_id, "member_ids": ["m1"]}, token=other_admin)
    assert (status, body["error"]["code"]) == (404, "TEMPLATE_NOT_FOUND")
    status, body = api.post(
        "/v1/admin/issue-jobs", {"template_id": template_id, "member_ids": ["m1"]}, token=api.admin_token(merchant)
    )
    assert (status, body["error"]["code"]) == (400, "INVALID_IDEMPOTENCY_KEY")


def test_cardholders_from_before_the_index_are_found_after_the_backfill(api: Any, merchant: Any) -> None:
    from infra.deploy import cardholders

    template_id = _template(api, merchant)
    old, new = (api.member_with_card(merchant)["member"]["member_id"] for _ in range(2))
    no_card = api.login(merchant)["member"]["member_id"]
    Member(member_pk(merchant.merchant_id, old), PROFILE).update(  # as a card opened before the index
        actions=[Member.cards_pk.remove(), Member.cards_sk.remove()]
    )
    assert cardholders.backfill() == 1
    assert cardholders.backfill() == 0  # again: nothing left to do
    _, job = _post_job(api, merchant, {"template_id": template_id, "filter": {"tier_ids": ["normal"]}})
    _drain()
    assert _job(api, merchant, job["job_id"])["issued"] == 2
    assert [_held(merchant, m, template_id) for m in (old, new, no_card)] == [1, 1, 0]


def test_the_scheduled_function_works_through_the_jobs(api: Any, merchant: Any) -> None:
    from tests.integration.test_lifecycle import invoke

    template_id = _template(api, merchant)
    member_id = api.member_with_card(merchant)["member"]["member_id"]
    idle = invoke("issue_jobs_run")  # no job runs: the list read once, the issuing code left alone
    assert (idle["job"], idle["due"], idle["done"], idle["failed"], idle["more"]) == ("issue_job", 0, 0, [], False)
    _, job = _post_job(api, merchant, {"template_id": template_id, "member_ids": [member_id]})
    report = invoke("issue_jobs_run")
    assert (report["jobs"], report["issued"], report["failed"]) == (1, 1, [])
    assert _job(api, merchant, job["job_id"])["status"] == "DONE" and _held(merchant, member_id, template_id) == 1


def _results(api: Any, merchant: Any, job_id: str) -> dict[str, tuple[str, Any]]:
    status, page = api.get(f"/v1/admin/issue-jobs/{job_id}/results?limit=100", token=api.admin_token(merchant))
    assert status == 200, page
    return {r["member_id"]: (r["status"], r.get("error")) for r in page["results"]}


def test_members_refused_sold_out_are_issued_once_stock_is_added(api: Any, merchant: Any, clock: Any) -> None:
    template_id = _template(api, merchant, stock=2)
    ids = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(4)]
    _, job = _post_job(api, merchant, {"template_id": template_id, "member_ids": ids})
    _drain()
    done = _job(api, merchant, job["job_id"])
    assert (done["status"], done["issued"], done["failed"]) == ("DONE", 2, 2)
    assert (
        sorted(_results(api, merchant, job["job_id"]).values()) == [("FAILED", "SOLD_OUT")] * 2 + [("ISSUED", None)] * 2
    )

    clock.advance(minutes=11)
    issue_jobs.run()  # still no stock: they keep waiting, nobody is given one
    assert _job(api, merchant, job["job_id"])["issued"] == 2
    status, body = api.patch(
        f"/v1/admin/coupon-templates/{template_id}", {"total_stock": 4}, token=api.admin_token(merchant)
    )
    assert status == 200, body
    clock.advance(minutes=11)
    runs = [issue_jobs.run(), issue_jobs.run()]  # the second finds nothing left to do
    after = _job(api, merchant, job["job_id"])
    assert (after["status"], after["issued"], after["failed"]) == ("DONE", 4, 0)
    assert set(_results(api, merchant, job["job_id"]).values()) == {("ISSUED", None)}
    assert [_held(merchant, m, template_id) for m in ids] == [1, 1, 1, 1]
    assert (runs[0].issued, runs[1].issued) == (2, 0)
    clock.advance(days=1)
    assert issue_jobs.run().jobs == 0  # off the list: nothing left to wait for


class _Killed(BaseException):
    """Lambda ending the run (its timeout, a crash): nothing in the job catches it."""


def test_a_run_killed_as_its_pass_ends_still_issues_to_members_refused_sold_out(
    api: Any, merchant: Any, clock: Any, monkeypatch: Any
) -> None:
    """The write that makes a job DONE took it off the list, and a second write put it back to wait for stock:
    killed between the two, the members refused SOLD_OUT were never looked at again."""
    template_id = _template(api, merchant, stock=1)
    ids = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(2)]
    _, job = _post_job(api, merchant, {"template_id": template_id, "member_ids": ids})

    def killed(*_: Any) -> None:
        raise _Killed

    monkeypatch.setattr(issue_jobs, "_wait_for_stock", killed)
    try:
        issue_jobs.run()
    except _Killed:
        pass
    monkeypatch.undo()
    assert (_job(api, merchant, job["job_id"])["status"], _job(api, merchant, job["job_id"])["issued"]) == ("DONE", 1)
    status, body = api.patch(
        f"/v1/admin/coupon-templates/{template_id}", {"total_stock": 2}, token=api.admin_token(merchant)
    )
    assert status == 200, body
    clock.advance(minutes=11)
    issue_jobs.run()
    after = _job(api, merchant, job["job_id"])
    assert (after["status"], after["issued"], after["failed"]) == ("DONE", 2, 0)
    assert [_held(merchant, m, template_id) for m in ids] == [1, 1]


def test_a_long_job_gives_way_to_the_jobs_behind_it_within_a_run(api: Any, merchant: Any, monkeypatch: Any) -> None:
    """Each job due in a run gets an even share of the run's time left (runner.turn), at least a page: a job of
    many pages, created first and so first on the list, no longer holds a small job created after it for the
    whole run (and, run after run, until it is done)."""
    from types import SimpleNamespace

    from mini_program_api.jobs import runner

    template_id = _template(api, merchant)
    members = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(6)]
    _, long_job = _post_job(api, merchant, {"template_id": template_id, "member_ids": members[:4]})
    _, small_job = _post_job(api, merchant, {"template_id": template_id, "member_ids": members[4:]})

    now = [1000.0]
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=lambda: now[0]))
    advance = issue_jobs._advance

    def a_page_takes_ten_seconds(*args: Any, **kwargs: Any) -> bool:
        now[0] += 10
        return bool(advance(*args, **kwargs))

    monkeypatch.setattr(issue_jobs, "_advance", a_page_takes_ten_seconds)
    report = issue_jobs.run(page_size=1, deadline=now[0] + 40)  # time for 4 pages of the 6 the two jobs have
    assert (report.jobs, report.stopped_early, report.more) == (2, False, True), report
    first, second = _job(api, merchant, long_job["job_id"]), _job(api, merchant, small_job["job_id"])
    # The long job's turn was half the run (2 pages); the small one had the rest and finished.
    assert (first["status"], first["scanned"]) == ("RUNNING", 2), first
    assert (second["status"], second["issued"]) == ("DONE", 2), second
    _drain(page_size=1)
    assert _job(api, merchant, long_job["job_id"])["issued"] == 4
