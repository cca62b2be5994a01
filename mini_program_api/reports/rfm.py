"""RFM: recency, frequency and monetary of each member's last 12 months, scored 1-5 and named.

Kept current by the checkout transaction (reports/rfm_months.py: `on_sale`, `on_refund`): the member row's `rfm`
map holds, per merchant-local month, purchases (`n:YYYY-MM`) and fen paid (`v:YYYY-MM`: the order after tier and
coupon discounts, however it was paid), and the last purchase time (`last`). A refund takes its order back out
of its own month; months older than 12 are dropped by the next sale. O(1) per event, no read.

The nightly job (`run`) is resumable (its state item keeps phase, shard and cursor) and pages the roster
GSI twice per merchant: pass 1 builds fixed-size histograms of R (days), F (purchases) and M (fen, in
log buckets), whose quintiles are the default thresholds; pass 2 scores every member 1-5 (thresholds
the merchant configured win) and files them under their segment: a SEGMENT item in their partition,
listed by the roster index under `SEG#{mid}#{segment}`, so a segment is one paged Query.

Segments: a score of 3 or more is "high". M high: 重要价值 (R, F high), 重要保持 (F high, R low),
重要发展 (R high, F low), 重要挽留 (both low); M low: 一般价值/一般保持/一般发展/一般挽留 likewise.
A member without a purchase in the 12 months is in no segment.
"""

from __future__ import annotations

import bisect
import logging
import math
from datetime import date, datetime
from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from mini_program_api.db.models import Item, Member, member_pk
from mini_program_api.db.segments import RFM_SEGMENTS, Segment, segment_pk
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.jobs import runner
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock, paging
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.reports import roster
from mini_program_api.reports.rfm_months import MONTHS, months_back
from mini_program_api.staff import audit

log = logging.getLogger(__name__)
SEGMENTS = RFM_SEGMENTS
PAGE = 100
_M_BUCKETS = 64  # monetary histogram: bucket = floor(log2(fen + 1)), fen up to 2**64


class RfmJob(Item):
    """One merchant's scoring run: phase HISTOGRAM -> SCORE -> DONE, resumable at (shard, cursor)."""

    phase = UnicodeAttribute()
    shard = NumberAttribute(default=0)
    cursor = UnicodeAttribute(null=True)
    today = UnicodeAttribute()
    histograms: MapAttribute[str, Any] = MapAttribute(default=dict)  # "r"/"f"/"m" -> {bucket: members}
    thresholds: MapAttribute[str, Any] = MapAttribute(default=dict)  # "r"/"f"/"m" -> four cut points
    counts: MapAttribute[str, Any] = MapAttribute(default=dict)  # segment -> members
    started_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)


class RfmConfig(Item):
    """Thresholds a merchant set (four ascending cut points each); absent: the merchant's own quintiles."""

    r = ListAttribute(of=NumberAttribute, null=True)  # recency in days: at or below the first cut is a 5
    f = ListAttribute(of=NumberAttribute, null=True)
    m = ListAttribute(of=NumberAttribute, null=True)
    version = NumberAttribute(default=0)


def rfm_pk(merchant_id: str) -> str:
    return f"MCH#{merchant_id}#RPT#RFM"


def values(rfm: dict[str, Any] | None, today: date, tz: str) -> tuple[int, int, int] | None:
    """(recency days, purchases, fen) over the 12 months up to `today`; None without a purchase."""
    if not rfm or "last" not in rfm:
        return None
    oldest = months_back(today.isoformat()[:7], MONTHS - 1)
    frequency = sum(int(v) for k, v in rfm.items() if k.startswith("n:") and k[2:] >= oldest)
    monetary = sum(int(v) for k, v in rfm.items() if k.startswith("v:") and k[2:] >= oldest)
    if frequency <= 0:
        return None
    last = clock.local_date(tz, datetime.fromisoformat(str(rfm["last"])))
    return max(0, (today - last).days), frequency, max(0, monetary)


# --- scoring ----------------------------------------------------------------------------------------


def _bucket(kind: str, value: int) -> int:
    if kind == "r":
        return min(value, 366)
    if kind == "f":
        return min(value, 1000)
    return min(int(math.log2(value + 1)), _M_BUCKETS - 1)


def _unbucket(kind: str, bucket: int) -> int:
    return bucket if kind != "m" else 2 ** (bucket + 1) - 1  # a bucket's upper bound


def quintiles(histogram: dict[str, int], kind: str) -> list[int]:
    """Four cut points: the values at 20/40/60/80% of the members, from the histogram."""
    total = sum(int(n) for n in histogram.values())
    cuts, seen, wanted = [], 0, [total * q / 5 for q in (1, 2, 3, 4)]
    for bucket in sorted(histogram, key=int):
        seen += int(histogram[bucket])
        while wanted and seen >= wanted[0]:
            cuts.append(_unbucket(kind, int(bucket)))
            wanted.pop(0)
    return cuts + [cuts[-1] if cuts else 0] * (4 - len(cuts))


def score(kind: str, value: int, cuts: list[int]) -> int:
    """1-5; recency scores the other way round (fewer days is better)."""
    position = bisect.bisect_left(cuts, value) if kind == "r" else bisect.bisect_right(cuts, value)
    return 5 - position if kind == "r" else 1 + position


def segment_of(r: int, f: int, m: int) -> str:
    high_r, high_f = r >= 3, f >= 3
    name = {(True, True): "价值", (False, True): "保持", (True, False): "发展", (False, False): "挽留"}[
        (high_r, high_f)
    ]
    return ("重要" if m >= 3 else "一般") + name


def _job(merchant_id: str) -> RfmJob | None:
    try:
        return RfmJob.get(rfm_pk(merchant_id), "JOB", consistent_read=True)
    except RfmJob.DoesNotExist:
        return None


def config(merchant_id: str) -> RfmConfig | None:
    try:
        return RfmConfig.get(rfm_pk(merchant_id), "CONFIG", consistent_read=True)
    except RfmConfig.DoesNotExist:
        return None


def run(merchant_id: str, deadline: float | None = None, page: int = PAGE) -> RfmJob:
    """Score the merchant's members, resuming a run cut off before; a finished run starts a new one."""
    merchant = merchants.get(merchant_id)
    job = _job(merchant_id)
    if job is None or job.phase == "DONE":
        job = RfmJob(
            rfm_pk(merchant_id),
            "JOB",
            phase="HISTOGRAM",
            shard=0,
            cursor=None,
            today=clock.local_date(merchant.timezone).isoformat(),
            histograms={"r": {}, "f": {}, "m": {}},
            thresholds={},
            counts={},
            started_at=clock.now(),
        )
        job.save()
    today = date.fromisoformat(str(job.today))
    while job.phase != "DONE":
        if runner.out_of_time(deadline):
            return job
        got = roster.page(roster.roster_pk(merchant_id, int(job.shard)), job.cursor, page)
        if job.phase == "HISTOGRAM":
            _count(job, got.items, today, merchant.timezone)
        else:
            _score(merchant_id, job, got.items, today, merchant.timezone)
        job.cursor = got.cursor
        if got.cursor is None:
            job.shard = int(job.shard) + 1
            if int(job.shard) == roster.ROSTER_SHARDS:
                job.shard = 0
                _advance(merchant_id, job)
        job.save()
    return job


def _count(job: RfmJob, members: list[Member], today: date, tz: str) -> None:
    histograms = {k: dict(v) for k, v in job.histograms.as_dict().items()}
    for member in members:
        got = _values(member, today, tz)
        if got is None:
            continue
        for kind, value in zip("rfm", got, strict=True):
            key = str(_bucket(kind, value))
            histograms[kind][key] = int(histograms[kind].get(key, 0)) + 1
    job.histograms = histograms


def _values(member: Member, today: date, tz: str) -> tuple[int, int, int] | None:
    """A member's R, F, M; a row that cannot be read is logged and left unscored, never stalls the run."""
    try:
        return values(member.rfm.as_dict() if member.rfm is not None else None, today, tz)
    except (TypeError, ValueError, KeyError):
        log.error("RFM: member %s has an unreadable rfm map, not scored", member.roster_sk)
        return None


def _advance(merchant_id: str, job: RfmJob) -> None:
    if job.phase == "HISTOGRAM":
        configured = config(merchant_id)
        histograms = job.histograms.as_dict()
        job.thresholds = {
            kind: [int(x) for x in (getattr(configured, kind, None) or [])] or quintiles(histograms.get(kind, {}), kind)
            for kind in "rfm"
        }
        job.phase = "SCORE"
    else:
        job.phase, job.finished_at = "DONE", clock.now()


def _score(merchant_id: str, job: RfmJob, members: list[Member], today: date, tz: str) -> None:
    cuts = {k: [int(x) for x in v] for k, v in job.thresholds.as_dict().items()}
    counts = {k: int(v) for k, v in job.counts.as_dict().items()}
    now = clock.now()
    for member in members:
        member_id = str(member.roster_sk)
        got = _values(member, today, tz)
        if got is None:
            Segment(member_pk(merchant_id, member_id), "SEGMENT").delete()  # fell out of the 12 months
            continue
        r, f, m = (score(kind, value, cuts[kind]) for kind, value in zip("rfm", got, strict=True))
        name = segment_of(r, f, m)
        counts[name] = counts.get(name, 0) + 1
        Segment(
            member_pk(merchant_id, member_id),
            "SEGMENT",
            roster_pk=segment_pk(merchant_id, name),
            roster_sk=member_id,
            member_id=member_id,
            segment=name,
            r=r,
            f=f,
            m=m,
            recency_days=got[0],
            frequency=got[1],
            monetary=got[2],
            scored_at=now,
        ).save()
    job.counts = counts


def segment_members(merchant_id: str, segment: str, cursor: str | None, limit: int) -> paging.Page[Segment]:
    """One page of the members of `segment` as the last run scored them (for reports and issue jobs)."""
    if segment not in SEGMENTS:
        raise KabaoError("VALIDATION_ERROR", f"segment is one of {', '.join(SEGMENTS)}")
    return roster.page(segment_pk(merchant_id, segment), cursor, limit, model=Segment)


def counts(merchant_id: str) -> dict[str, Any] | None:
    """The last finished run's members per segment, thresholds and time."""
    job = _job(merchant_id)
    if job is None or not job.thresholds.as_dict():
        return None
    return {
        "segments": {s: int(job.counts.as_dict().get(s, 0)) for s in SEGMENTS},
        "thresholds": {k: [int(x) for x in v] for k, v in job.thresholds.as_dict().items()},
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "phase": job.phase,
    }


def configure(actor: Principal, r: list[int] | None, f: list[int] | None, m: list[int] | None) -> RfmConfig:
    """Set (or, with all None, clear back to quintiles) the thresholds; audited in the same transaction."""
    for name, cuts in (("r", r), ("f", f), ("m", m)):
        if cuts is not None and (len(cuts) != 4 or cuts != sorted(cuts) or min(cuts) < 0):
            raise KabaoError("VALIDATION_ERROR", f"{name}: four ascending, non-negative cut points")
    old = config(actor.merchant_id)
    item = RfmConfig(rfm_pk(actor.merchant_id), "CONFIG", r=r, f=f, m=m, version=int(old.version) + 1 if old else 1)
    tx = Transaction()
    tx.put("config", item, condition=RfmConfig.version == int(old.version) if old else RfmConfig.pk.does_not_exist())
    audit.record(tx, actor, "RFM_THRESHOLDS", "rfm", {"r": str(r), "f": str(f), "m": str(m)})
    try:
        tx.commit()
    except Cancelled as exc:
        raise KabaoError("CONCURRENT_UPDATE", "the thresholds changed meanwhile, read them again") from exc
    return item


def run_all(deadline: float | None = None) -> runner.PerMerchant:
    """Every merchant's scoring (the nightly job); `statuses`: merchant id -> phase. One merchant failing is
    logged and skipped; one cut short by the deadline resumes from its phase next run."""
    order = runner.least_recent_first(roster.merchant_ids(), _progress)
    return runner.per_merchant("rfm_scoring", order, lambda m: str(run(m, deadline).phase), "DONE".__ne__, deadline)


def _progress(merchant_id: str) -> tuple[bool, datetime | None]:
    job = _job(merchant_id)
    return (False, None) if job is None else (job.phase != "DONE", job.finished_at)
