"""What `make soak CHAOS=1` found, each fault injected at the exact call that met it (infra/local/faults.py).

- A DynamoDB read throttled through every one of botocore's attempts escaped the handler as a pynamodb
  error: 500 INTERNAL_ERROR, where the contract answers 503 DATABASE_UNAVAILABLE (retry later).
- A top-up order asked for again with its Idempotency-Key once it was paid (its client's answer lost, the
  member paid from a retry) answered no `pay_params`, which the declared answer requires: a 500 locally,
  an answer outside the published contract in production.
- A transaction whose write was applied but whose answer was lost, through every resend, is applied once.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local import faults
from infra.local.faults import DynamoFaults, Scripted
from tests.ledger_checks import checked_balances


@pytest.fixture
def dynamodb_faults(monkeypatch: pytest.MonkeyPatch, stack: Any) -> Iterator[DynamoFaults]:
    """The fault hook on the product's DynamoDB client, scripted faults only (rate 0)."""
    monkeypatch.setenv(faults.ENV, "0")
    hook = faults.install(rate=0.0)
    yield hook
    hook.uninstall()


def _key() -> dict[str, str]:
    return {"idempotency-key": uuid.uuid4().hex}


def test_faults_are_refused_outside_a_local_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    from mini_program_api.platform import config

    production = config.settings()._replace(stage="prod")  # Settings is a NamedTuple: dataclasses.replace refuses it
    monkeypatch.setenv(faults.ENV, "0.5")
    monkeypatch.setattr(config, "settings", lambda: production)
    with pytest.raises(RuntimeError, match="local stage"):
        faults.install()


def test_a_read_throttled_through_every_retry_is_503_database_unavailable(
    api: Any, merchant: Any, dynamodb_faults: DynamoFaults
) -> None:
    member = api.member_with_card(merchant)
    dynamodb_faults.inject(Scripted("GetItem", "throttle", attempts=4))
    status, body = api.get("/v1/me", token=member["token"])
    assert (status, body["error"]["code"]) == (503, "DATABASE_UNAVAILABLE")
    assert dynamodb_faults.counts.total() == 4
    dynamodb_faults.inject(Scripted("Query", "throttle", attempts=4))
    status, body = api.get("/v1/me/coupons?status=available", token=member["token"])
    assert (status, body["error"]["code"]) == (503, "DATABASE_UNAVAILABLE")
    assert api.get("/v1/me", token=member["token"])[0] == 200  # the database back: answered


def test_a_refused_write_is_still_500(api: Any, merchant: Any, dynamodb_faults: DynamoFaults) -> None:
    """Only DynamoDB not answering is 503: a request it refuses (a bug of ours) stays a 500, as before."""
    from pynamodb.exceptions import GetError

    from mini_program_api.db import transact

    refused = GetError("Failed to get item", Exception("ValidationException"))
    assert not transact.unavailable(refused)
    assert not transact.unavailable(ValueError("not the database"))


def test_a_paid_top_up_order_asked_for_again_with_its_key_answers_it_without_pay_params(
    api: Any, merchant: Any, sandbox: Any
) -> None:
    member = api.member_with_card(merchant)
    key = _key()
    status, first = api.post("/v1/topup/orders", {"plan_id": "p300"}, token=member["token"], headers=key)
    assert status == 200 and first["pay_params"], first
    assert json.loads(sandbox.pay.pay(first["order_id"]).get_data())["deliveries"] == [204]
    status, again = api.post("/v1/topup/orders", {"plan_id": "p300"}, token=member["token"], headers=key)
    assert status == 200, again
    assert (again["order_id"], again["status"], again["pay_params"]) == (first["order_id"], "PAID", None)
    assert checked_balances(merchant.merchant_id, member["member"]["member_id"])["principal"] == 30000


def test_a_checkout_whose_answer_is_lost_through_every_resend_is_applied_once(
    api: Any, merchant: Any, dynamodb_faults: DynamoFaults
) -> None:
    member = api.member_with_card(merchant)
    cashier = api.staff_token(merchant)
    body = {"member_code": api.member_code(member["token"]), "amount": 3000}
    key = _key()
    # botocore's four attempts each applied and each answer lost; the product's own resend (same token) answers.
    dynamodb_faults.inject(Scripted("TransactWriteItems", "timeout", attempts=4))
    status, receipt = api.post("/v1/staff/checkout", body, token=cashier, headers=key)
    assert status == 200, receipt
    assert dynamodb_faults.counts.total() == 4
    assert api.post("/v1/staff/checkout", body, token=cashier, headers=key) == (200, receipt)
    balances = checked_balances(merchant.merchant_id, member["member"]["member_id"])
    assert balances["growth"] == receipt["growth_earned"] == 30  # earned once: 30 yuan paid
    status, page = api.get("/v1/me/orders", token=member["token"])
    assert [o["order_id"] for o in page["orders"]] == [receipt["order_id"]]


def test_an_issue_job_that_meets_an_unanswered_read_tries_the_member_again(
    api: Any, merchant: Any, clock: Any, dynamodb_faults: DynamoFaults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read throttled through every retry while giving a member the job's coupon is the database's fault, not
    the member's: the job is deferred and the member given one on a later run (it was recorded FAILED for good)."""
    from mini_program_api.coupons import claims, issue_jobs

    token = api.admin_token(merchant)
    status, template = api.post(
        "/v1/admin/coupon-templates",
        {
            "name": "回馈券",
            "kind": "CASH",
            "amount": 300,
            "per_member_limit": 1,
            "days_after_claim": 7,
            "listed": False,
            "total_stock": 2,
        },
        token=token,
    )
    assert status == 201, template
    ids = [api.member_with_card(merchant)["member"]["member_id"] for _ in range(2)]
    status, job = api.post(
        "/v1/admin/issue-jobs",
        {"template_id": template["template_id"], "member_ids": ids},
        token=token,
        headers=_key(),
    )
    assert status == 201, job
    # Two shards of one: every issue tries shard 0 first, so the second member finds it empty and reads every
    # shard's stock, the read the database then fails to answer.
    monkeypatch.setattr(claims.random, "randrange", lambda n: 0)
    dynamodb_faults.inject(Scripted("BatchGetItem", "throttle", attempts=4))
    issue_jobs.run()
    assert dynamodb_faults.counts.total() == 4
    clock.advance(minutes=11)  # the job's first backoff
    issue_jobs.run()
    status, page = api.get(f"/v1/admin/issue-jobs/{job['job_id']}/results?limit=100", token=token)
    assert status == 200, page
    assert sorted((r["member_id"], r["status"]) for r in page["results"]) == sorted((m, "ISSUED") for m in ids)
    status, done = api.get(f"/v1/admin/issue-jobs/{job['job_id']}", token=token)
    assert (done["status"], done["issued"], done["failed"]) == ("DONE", 2, 0), done


def test_a_job_item_whose_deferral_meets_the_same_outage_does_not_stop_the_items_behind_it(
    api: Any, merchant: Any, dynamodb_faults: DynamoFaults
) -> None:
    """An item's read unanswered, and the runner's read to defer it unanswered too: the run raised, and every
    item behind it waited for the next run (or, every run, for good behind an item that meets it each time)."""
    from mini_program_api.coupons import issue_jobs
    from mini_program_api.jobs import due
    from mini_program_api.money import idempotency

    token = api.admin_token(merchant)
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
        token=token,
    )
    assert status == 201, template

    def shard(key: str) -> str:
        job_id = idempotency.client_key(merchant.merchant_id, "issuejob", key).derived_id("J")
        return due.slot(issue_jobs.JOB, f"{merchant.merchant_id}#{job_id}", issue_jobs.clock.now())[0]

    first_key = uuid.uuid4().hex
    second_key = next(k for k in (uuid.uuid4().hex for _ in range(200)) if shard(k) >= shard(first_key))
    jobs = []
    for key in (first_key, second_key):  # the first one on the list is the one the database fails on
        member_id = api.member_with_card(merchant)["member"]["member_id"]
        status, job = api.post(
            "/v1/admin/issue-jobs",
            {"template_id": template["template_id"], "member_ids": [member_id]},
            token=token,
            headers={"idempotency-key": key},
        )
        assert status == 201, job
        jobs.append(job)

    def first_job(params: dict[str, Any]) -> bool:
        return params.get("Key", {}).get("sk", {}).get("S") == jobs[0]["job_id"]

    for _ in range(2):  # the job's read, then the runner's read to defer it
        dynamodb_faults.inject(Scripted("GetItem", "throttle", attempts=4, matches=first_job))
    report = issue_jobs.run()
    assert report.failed == ["GetError"] and report.done == 1, report
    status, second = api.get(f"/v1/admin/issue-jobs/{jobs[1]['job_id']}", token=token)
    assert (second["status"], second["issued"]) == ("DONE", 1), second


def test_a_listing_whose_counter_write_meets_a_transaction_in_progress_is_503_not_500(
    api: Any, merchant: Any, dynamodb_faults: DynamoFaults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The offers listing counts its view in a transaction on a counter shard other listings' transactions also
    write: DynamoDB refuses it while one of them is in progress with TransactionConflictException, which botocore
    does not retry. The transaction is sent again (db/transact.py); refused every time: not now, not no, 503."""
    from mini_program_api.db import transact

    member = api.member_with_card(merchant)
    status, template = api.post(
        "/v1/admin/coupon-templates",
        {
            "name": "新人券",
            "kind": "CASH",
            "amount": 300,
            "per_member_limit": 1,
            "days_after_claim": 7,
            "listed": True,
            "total_stock": 10,
        },
        token=api.admin_token(merchant),
    )
    assert status == 201, template
    monkeypatch.setattr(
        faults, "_THROTTLES", (("TransactionConflictException", "Transaction is ongoing for the item"),)
    )
    for _ in range(transact.ATTEMPTS):
        dynamodb_faults.inject(Scripted("TransactWriteItems", "throttle", attempts=4))
    status, body = api.get("/v1/coupons/offers", token=member["token"], headers=_key())
    assert (status, body["error"]["code"]) == (503, "DATABASE_UNAVAILABLE"), body
    status, body = api.get("/v1/coupons/offers", token=member["token"], headers=_key())
    assert status == 200 and [o["template_id"] for o in body["offers"]] == [template["template_id"]], body


def test_a_job_killed_mid_run_dies_in_its_due_list_readers_too(dynamodb_faults: DynamoFaults) -> None:
    """A Lambda killed mid-run dies in every thread: the kill counts the run's calls in the threads its due list is
    read through (jobs/due.py), not only its own; the chaos soak kills runs that read nothing else. A request
    served meanwhile in another thread is not counted."""
    from infra.local.faults import Killed
    from mini_program_api.db.due import DueMarker
    from mini_program_api.jobs import due
    from mini_program_api.platform import clock

    dynamodb_faults.kill_after(3)
    with pytest.raises(Killed):
        list(due.owed(DueMarker, "points_expiry", clock.now(), 10))  # its 32 shard queries, all in readers
    list(due.owed(DueMarker, "points_expiry", clock.now(), 10))  # once killed, the countdown is spent
    results: list[str] = []
    dynamodb_faults.kill_after(1)
    reader = threading.Thread(
        target=lambda: results.append(str(len(list(due.owed(DueMarker, "birthday", clock.now(), 5)))))
    )
    reader.start()
    reader.join()
    assert results  # another thread's run, with its own context, is not this run's to kill
    dynamodb_faults.kill_after(None)
