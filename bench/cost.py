"""What kabao costs a merchant to run: yuan per 10 000 active members a month, from measured capacity.

The capacity units per operation come from `bench calls` (ReturnConsumedCapacity on DynamoDB
Local). The Lambda time per request is the app's CPU time for it, measured on the server thread
(infra/local/cpu.py, in `bench calls` and `make load`), plus one DynamoDB round trip in the region per
call it makes: the wall time DynamoDB Local and a shared machine add locally is not what a Lambda
waits for in AWS. The usage profile and the prices are
constants below, each with where it comes from; change them and run `python -m bench calls`.
Not counted: API Gateway, CloudWatch Logs, storage (kabao's items are small: well under 1 GB per
10 000 members) and data transfer.
"""
from __future__ import annotations

from collections.abc import Mapping

MEMBERS = 10_000

# Prices for China (Beijing) cn-north-1, in yuan.
# DynamoDB on-demand, Standard table class: https://www.amazonaws.cn/en/dynamodb/pricing/ (read 2026-11-23):
# "Write requests: ¥ 11.1538 for every million write request units".
YUAN_PER_MILLION_WRU = 11.1538
# ASSUMPTION TO CHECK: the read price was cut off in the copy we could read; a quarter of the write price,
# the read/write ratio of every AWS region's on-demand price list.
YUAN_PER_MILLION_RRU = YUAN_PER_MILLION_WRU / 4
# ASSUMPTION TO CHECK: Lambda prices for cn-north-1 were not found in a citable copy; these are the figures
# commonly quoted for the China regions (x86): ¥1.36 per million requests, ¥0.000113477 per GB-second.
YUAN_PER_MILLION_LAMBDA_REQUESTS = 1.36
YUAN_PER_GB_SECOND = 0.000113477
LAMBDA_GB = 0.5  # chalice.json: prod lambda_memory_size 512
# ASSUMPTION TO CHECK: a DynamoDB call from a Lambda in the same region, TLS connection reused, answers in
# single-digit milliseconds (DynamoDB's own claim); 5 ms each is what a Lambda waits per call.
DYNAMODB_ROUND_TRIP_SECONDS = 0.005

# The usage profile: what one active member does in a month (issue 16), as rows of the calls table.
PROFILE: Mapping[str, float] = {
    "login (returning)": 30,  # opens the mini program daily
    "GET /v1/me": 30,
    "POST /v1/me/sign-in *": 30,  # daily sign-in
    "GET /v1/me/code": 4,  # shown at the till, once per purchase
    "POST /v1/staff/checkout *": 4,  # 4 purchases
    "POST /v1/topup/orders *": 1,  # 1 top-up ...
    "POST /v1/wechatpay/notify *": 1,  # ... and its payment notify
    "GET /v1/coupons/offers": 3,  # the shelf, before each claim
    "POST .../offers/{id}/claim *": 3,  # 3 claims
    "GET /v1/me/ledger": 2,
}
# Scheduled jobs per member a month, in capacity units (functions/): a coupon's expiry reminder and its
# due item (3 coupons: 1 read + 2 transactional writes each), one points-expiry check and one tier review
# (1 read + 2 writes each); reconciliation reads only unsettled top-ups (none in a healthy month).
JOB_RRU, JOB_WRU, JOB_LAMBDA_SECONDS = 5.0, 10.0, 0.05


def lambda_seconds(cpu_seconds: float, dynamodb_calls: float) -> float:
    """What a Lambda is billed for one request: the app's CPU, and its wait for each DynamoDB call."""
    return cpu_seconds + dynamodb_calls * DYNAMODB_ROUND_TRIP_SECONDS


def lambda_from_cpu(cpu: Mapping[str, float], dynamodb_calls: float) -> list[str]:
    """`cpu`: route -> CPU seconds per request (`make load`), `dynamodb_calls` per request. Lines to print:
    the Lambda time and price of a million requests of that mix (each route alike)."""
    mean_cpu = sum(cpu.values()) / max(1, len(cpu))
    seconds = lambda_seconds(mean_cpu, dynamodb_calls)
    yuan = YUAN_PER_MILLION_LAMBDA_REQUESTS + 1e6 * seconds * LAMBDA_GB * YUAN_PER_GB_SECOND
    return [
        f"Lambda per request (bench/cost.py): {mean_cpu * 1000:.1f} ms CPU + {dynamodb_calls:.1f} DynamoDB calls x "
        f"{DYNAMODB_ROUND_TRIP_SECONDS * 1000:.0f} ms = {seconds * 1000:.1f} ms at {LAMBDA_GB * 1024:.0f} MB: "
        f"¥{yuan:.2f} per million requests of this mix"
    ]


def monthly(rows: Mapping[str, tuple[float, float, float]]) -> list[str]:
    """`rows`: operation -> (RRU, WRU, seconds of Lambda time: `lambda_seconds`) per call. Lines to print."""
    rru = wru = seconds = requests = 0.0
    for name, per_member in PROFILE.items():
        r, w, s = rows[name]
        rru, wru, seconds, requests = rru + r * per_member, wru + w * per_member, seconds + s * per_member, \
            requests + per_member
    rru, wru, seconds = rru + JOB_RRU, wru + JOB_WRU, seconds + JOB_LAMBDA_SECONDS
    dynamodb = MEMBERS * (rru * YUAN_PER_MILLION_RRU + wru * YUAN_PER_MILLION_WRU) / 1e6
    lambda_ = MEMBERS * (requests * YUAN_PER_MILLION_LAMBDA_REQUESTS / 1e6 + seconds * LAMBDA_GB * YUAN_PER_GB_SECOND)
    return [
        f"Cost per {MEMBERS} active members a month (cn-north-1; profile and prices in bench/cost.py):",
        f"  per member: {requests:.0f} requests, {rru:.0f} read units, {wru:.0f} write units, "
        f"{seconds:.1f} s of Lambda at {LAMBDA_GB * 1024:.0f} MB",
        f"  DynamoDB on-demand  ¥{dynamodb:8.2f}",
        f"  Lambda              ¥{lambda_:8.2f}",
        f"  total               ¥{dynamodb + lambda_:8.2f}  (¥{(dynamodb + lambda_) / MEMBERS * 100:.2f} per 100 members)",
    ]
