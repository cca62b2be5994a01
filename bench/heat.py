"""Partition heat: which DynamoDB partitions a real mixed run reads and writes, projected to 5000 operations/s.

    python -m bench heat                  # its own local stack; about two minutes
    python -m bench.heat --ops 3000
    python -m bench.heat --only jobs      # the jobs walking the members alone (the members are made first)

A mixed run over HTTP on the local stack, every DynamoDB call booked on the partition that serves it, the
table's or an index's (infra/local/heat.py: a botocore hook on the product's client, with each item's units):

1. the mix: the soak's operations (bench/soak.py), a coupon drop, a top-up rush and the admin's report and
   audit reads, together; its units per key are scaled to 5000 API requests/s for one merchant;
2. a hot coupon drop alone, scaled to 50 000 claims/s (10x the seeds' peak): a template of `DROP_STOCK` units
   (so as many stock shards as such a drop gets), every claim after its member lists the offers (with its
   Idempotency-Key; every `RESENT`th listing is sent twice, its first answer lost), judged per partition with each sharded family's writes spread
   over its shards as designed (`spread`: a few thousand claims over 256 shards give a sampled hottest shard
   that is sampling noise, not design), and its units per claim against the table's default quota;
3. the jobs that walk a merchant's cardholders and members (an issue job by filter, the reports' roster
   walk): units per partition per 1000 members walked.

The API runs in this process, so the run is one container: what a container keeps a copy of (the claim's
template, the listing's offer shelf: platform/container_copy.py, a read per `templates.CACHE_SECONDS` and per
thread that finds the copy stale at once) is read as often as the run's wall time gives, and that is scaled with
the rest; a slower run shows more of those reads, as more containers would at the same rate.

Keys are shown with what varies per member or request replaced by a placeholder (`{member}`, `{order}`,
`{key}`); such a row is the hottest one instance seen, which at a real merchant's million members takes a
millionth of the traffic, not the bench's 1/200. A key per merchant, per day or per shard stays itself.
Against DynamoDB's per-partition limits (3000 read units/s, 1000 write units/s), a key is hot over half
of either (the goal in docs/design.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench import quiet_app

PEAK = 5000  # API requests per second, one merchant (the seeds' peak)
DROP_PEAK = 10 * PEAK  # claims per second of one hot coupon drop
DROP_STOCK = 500_000  # units of the hot drop's template: 10 s at DROP_PEAK (stock.shard_count: 256 shards)
RESENT = 5  # in the drop, one listing in RESENT is sent again with its key (a lost answer): counted once
TABLE_QUOTA = 40_000  # WCU/s (and RCU/s): an on-demand table's default per-table quota, an account setting
READ_LIMIT, WRITE_LIMIT = 3000.0, 1000.0  # per partition per second
HOT = 0.5  # of a limit
SHOW = 25

# Segments that vary per member, order or request: (kind in the key, placeholder).
_PER_INSTANCE = [
    (re.compile(r"#MEM#[^#]+"), "#MEM#{member}"),
    (re.compile(r"#(OPENID|PHONE|CARD|CODE|WXCODE|INVITE|WXEVENT)#[^#]+"), r"#\1#{id}"),
    (re.compile(r"#(TOPUP|CHECKOUT)#[^#]+"), r"#\1#{order}"),
    (re.compile(r"#OP#([a-z_]+):[^#]+"), r"#OP#\1:{key}"),
    (re.compile(r"#ISSUEJOB#[^#]+"), "#ISSUEJOB#{job}"),
    (re.compile(r"^SEG#([^#]+)#.+"), r"SEG#\1#{segment}"),
]


def normalize(pk: str) -> str:
    """The key with its per-member or per-request part as a placeholder; a per-merchant or per-day key as is."""
    for pattern, placeholder in _PER_INSTANCE:
        pk = pattern.sub(placeholder, pk)
    return pk


@dataclass
class Row:
    index: str
    key: str  # normalized
    instances: int = 0
    reads: float = 0.0  # the hottest instance's units in the run
    writes: float = 0.0
    writers: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    reading: bool = False  # `writers` are its readers: reads bind this key

    def load(self, scale: float) -> float:
        return max(self.reads * scale / READ_LIMIT, self.writes * scale / WRITE_LIMIT)


def rows(dump: dict[str, Any]) -> list[Row]:
    """One row per normalized key: its hottest instance (by its larger share of a limit) and who spends it."""
    grouped: dict[tuple[str, str], Row] = {}
    for b in dump["bookings"]:
        key = (b["index"], normalize(b["pk"]))
        row = grouped.setdefault(key, Row(*key))
        row.instances += 1
        if max(b["reads"] / READ_LIMIT, b["writes"] / WRITE_LIMIT) > max(
            row.reads / READ_LIMIT, row.writes / WRITE_LIMIT
        ):
            row.reads, row.writes = b["reads"], b["writes"]
            # who spends the larger share of the key's limit: its writers, or its readers on a read-hot key
            writes_bind = b["writes"] / WRITE_LIMIT >= b["reads"] / READ_LIMIT
            row.writers = defaultdict(float, b["writers"] if writes_bind else b["readers"])
            row.reading = not writes_bind
    return sorted(grouped.values(), key=lambda r: -r.load(1.0))


def table(title: str, dump: dict[str, Any], scale: float, per: str) -> list[Row]:
    """Print the hottest keys at `scale` (units per second = units in the run x scale); return the hot ones."""
    found = rows(dump)
    print(f"\n{title}")
    print(f"{'index':12} {'partition key (hottest instance)':46} {'seen':>5} {'RCU/s':>8} {'WCU/s':>8} "
          f"{'of limit':>8}  written by (share of its writes; R: read by)")
    for row in found[:SHOW]:
        share = row.load(scale)
        total = sum(row.writers.values()) or 1.0
        top = sorted(row.writers.items(), key=lambda kv: -kv[1])[:2]
        spent = ("R: " if row.reading else "") + ", ".join(f"{op} {units / total:.0%}" for op, units in top)
        flag = " HOT" if share > HOT and row.instances == 1 else ""
        print(f"{row.index:12} {row.key[:46]:46} {row.instances:5d} {row.reads * scale:8.0f} {row.writes * scale:8.0f} "
              f"{share:8.0%}{flag}  {spent}")
    hot = [r for r in found if r.load(scale) > HOT and not _per_instance(r.key)]
    named = ", ".join(f"{r.index} {r.key}" for r in hot[:6]) + (", ..." if len(hot) > 6 else "")
    print(f"keys over half a partition's limit at {per}: {len(hot)}" + (f": {named}" if hot else ""))
    return hot


def families(dump: dict[str, Any], scale: float, top: int = 8) -> None:
    """Sharded keys summed per family (the key without its shard number): the partitions each would need to
    keep every one under half its limit at this rate, the writes spread evenly."""
    summed: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for b in dump["bookings"]:
        family = re.sub(r"#\d+$", "#{n}", normalize(b["pk"]))
        if "{n}" not in family or _per_instance(family.replace("#{n}", "")):
            continue
        row = summed[(b["index"], family)]
        row[0] += b["reads"] * scale
        row[1] += b["writes"] * scale
        row[2] += 1
    print(f"{'index':12} {'sharded key':46} {'shards':>6} {'RCU/s':>8} {'WCU/s':>8} {'needs':>6}")
    for (index, family), (reads, writes, shards) in sorted(summed.items(), key=lambda kv: -kv[1][1])[:top]:
        needs = math.ceil(max(reads / READ_LIMIT, writes / WRITE_LIMIT) / HOT)
        print(f"{index:12} {family[:46]:46} {shards:6.0f} {reads:8.0f} {writes:8.0f} {needs:6d}")


def spread(dump: dict[str, Any], scale: float, per: str) -> list[str]:
    """Each partition at `scale` with a sharded family's units spread evenly over the shards it was seen on (its
    shard is a hash or a uniform pick, so that is its rate; the table's hottest instance is the sample's noise);
    an unsharded key as itself. Per-member keys are left out as in `table`. Returns the keys over half."""
    summed: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for b in dump["bookings"]:
        key = normalize(b["pk"])
        family = re.sub(r"#\d+$", "#{n}", key)
        if _per_instance(family.replace("#{n}", "")):
            continue
        summed[(b["index"], family)][0] += b["reads"]
        summed[(b["index"], family)][1] += b["writes"]
        seen[(b["index"], family)].add(b["pk"])
    print(f"Per partition, each sharded family spread over its shards ({per})")
    print(f"{'index':12} {'partition key (n: shard)':46} {'shards':>6} {'RCU/s':>8} {'WCU/s':>8} {'of limit':>8}")
    found = []
    for (index, family), (reads, writes) in summed.items():
        shards = len(seen[(index, family)])
        rcu, wcu = reads * scale / shards, writes * scale / shards
        found.append((max(rcu / READ_LIMIT, wcu / WRITE_LIMIT), index, family, shards, rcu, wcu))
    found.sort(reverse=True)
    for share, index, family, shards, rcu, wcu in found[:12]:
        flag = " HOT" if share > HOT else ""
        print(f"{index:12} {family[:46]:46} {shards:6d} {rcu:8.0f} {wcu:8.0f} {share:8.0%}{flag}")
    hot = [f"{index} {family}" for share, index, family, *_ in found if share > HOT]
    print(f"partitions over half their limit at {per}, spread as designed: {len(hot)}"
          + (f": {', '.join(hot[:6])}" if hot else ""))
    return hot


def per_claim(dump: dict[str, Any], claims: int) -> None:
    """Units a claim spends with the listings before it, all partitions, and what the drop asks of the table's
    quota; then each route's part (a listing's exposure write, the claim's transaction)."""
    reads = sum(b["reads"] for b in dump["bookings"]) / max(1, claims)
    writes = sum(b["writes"] for b in dump["bookings"]) / max(1, claims)
    print(f"a claim and its listings spend {reads:.2f} RCU and {writes:.2f} WCU (table and indexes): at {DROP_PEAK} "
          f"claims/s {reads * DROP_PEAK:.0f} RCU/s and {writes * DROP_PEAK:.0f} WCU/s, "
          f"{writes * DROP_PEAK / TABLE_QUOTA:.1f}x an on-demand table's default {TABLE_QUOTA} WCU/s quota (a raise "
          "to ask AWS for)")
    for route, n in sorted(dump["operations"].items()):
        spent_r = sum(b["readers"].get(route, 0.0) for b in dump["bookings"]) / max(1, n)
        spent_w = sum(b["writers"].get(route, 0.0) for b in dump["bookings"]) / max(1, n)
        print(f"  {route}: {n} requests, {spent_r:.2f} RCU and {spent_w:.2f} WCU each")


def _per_instance(key: str) -> bool:
    """A key per member or request, seen at the bench's few. `{job}` is not one: the jobs part runs one job, so
    its partitions take what one job walking 1000 members a second would."""
    return "{" in key.replace("{job}", "")


@dataclass
class Run:
    api: str
    sandbox: str
    recorder: Any
    soak: Any = None
    notes: list[str] = field(default_factory=list)

    def mix(self, ops: int, clients: int, drop_claims: int, rush: int) -> dict[str, Any]:
        """The soak's operations, a coupon drop, a top-up rush and report reads, all at once."""
        run = self.soak
        run.create_limited_template(max(5, ops * 3 // 100))
        template = self._drop_template(drop_claims)
        self.recorder.reset()
        self.recorder.counting = True
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            jobs = [
                pool.submit(run.run, ops, clients),
                pool.submit(self._claims, template, drop_claims, 8),
                pool.submit(self._rush, rush, 8),
                pool.submit(self._reports, 3),
            ]
            for job in jobs:
                job.result()
        self.notes.append(f"mix: {time.perf_counter() - started:.0f} s")
        self.recorder.counting = False
        return self.recorder.dump()

    def drop(self, claims: int) -> dict[str, Any]:
        template = self._template(DROP_STOCK, 100)  # a real drop's stock, so its real shard count
        self.recorder.reset()
        self.recorder.counting = True
        self._claims(template, claims, 32, listing=True)
        self.recorder.counting = False
        return self.recorder.dump()

    def walks(self) -> tuple[dict[str, Any], int]:
        """An issue job to every cardholder of a tier (walks the cardholders), the reports' roster walk."""
        from mini_program_api.coupons import issue_jobs
        from mini_program_api.reports import roster

        c = self.soak.client()
        template = self._template(len(self.soak.members) + 10, 1)
        self.recorder.reset()
        self.recorder.counting = True
        self.recorder.phase = "issue job (cardholders walk)"
        started = time.perf_counter()
        c.ok("POST", "POST /v1/admin/issue-jobs", "/v1/admin/issue-jobs",
             {"template_id": template, "filter": {"tier_ids": ["normal", "silver", "gold"]}},
             token=self.soak.admin, key=uuid.uuid4().hex)
        issue_jobs.run()
        self.recorder.phase = "roster walk"
        walked = 0
        for n in range(roster.ROSTER_SHARDS):
            after = None
            while True:
                got = roster.page(roster.roster_pk("demo", n), after, 100)
                walked += len(got.items)
                if got.cursor is None:
                    break
                after = got.cursor
        self.recorder.counting = False
        self.recorder.phase = "outside a request"
        took = time.perf_counter() - started
        self.notes.append(f"the issue job and the roster walk: {walked} members in {took:.1f} s")
        return self.recorder.dump(), walked

    def _template(self, stock: int, per_member: int) -> str:
        body = {"name": "heat 满30减5", "kind": "FULL_REDUCTION", "threshold": 3000, "amount": 500,
                "total_stock": stock, "per_member_limit": per_member, "days_after_claim": 30}
        created = self.soak.client().ok("POST", "POST /v1/admin/coupon-templates", "/v1/admin/coupon-templates",
                                        body, token=self.soak.admin, key=uuid.uuid4().hex)
        return str(created["template_id"])

    def _drop_template(self, claims: int) -> str:
        per_member = max(1, -(-claims // len(self.soak.members)))
        return self._template(claims, min(per_member, 100))

    def _claims(self, template: str, claims: int, clients: int, listing: bool = False) -> None:
        """`claims` claims of `template`; with `listing`, each after its member lists the offers, as a drop's
        members do (a listing counts its exposures: one write)."""
        members = self.soak.members

        def one(i: int) -> None:
            m = members[i % len(members)]
            if listing:
                key = uuid.uuid4().hex
                for _ in range(2 if i % RESENT == 0 else 1):
                    self.soak.client().call("GET", "GET /v1/coupons/offers", "/v1/coupons/offers", token=m.token,
                                            key=key)
            self.soak.client().call("POST", "POST /v1/coupons/offers/{id}/claim",
                                    f"/v1/coupons/offers/{template}/claim", token=m.token, key=uuid.uuid4().hex)

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, range(claims)))

    def _rush(self, topups: int, clients: int) -> None:
        import random

        members = self.soak.members

        def one(i: int) -> None:
            self.soak.top_up(self.soak.client(), members[i % len(members)], random.Random(i))

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, range(topups)))

    def _reports(self, rounds: int) -> None:
        c = self.soak.client()
        for _ in range(rounds):
            for path in ("/v1/admin/reports/sales", "/v1/admin/reports/members", "/v1/admin/reports/stored-value",
                         "/v1/admin/reports/funnel", "/v1/admin/audit", "/v1/admin/audit?limit=100"):
                c.call("GET", f"GET {path}", path, token=self.soak.admin)
            time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    quiet_app()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="the soak's operations in the mix")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--drop", type=int, default=400, help="claims of the coupon drop in the mix")
    parser.add_argument("--rush", type=int, default=200, help="top-ups of the rush in the mix")
    parser.add_argument("--hot-drop", type=int, default=4000, help="claims of the hot drop measured alone")
    parser.add_argument("--saved", help="print the tables of a run saved before (build/heat.json) without running")
    parser.add_argument("--only", choices=("jobs",), help="run only this part (saved in build/heat-jobs.json)")
    args = parser.parse_args(argv)
    if args.saved:
        with open(args.saved, encoding="utf-8") as saved:
            report(**json.load(saved))
        return 0
    load = os.getloadavg()

    from infra.local import heat
    from infra.local import stack as local_stack
    from infra.local.seed import seed

    stack = local_stack.start(stage="local", table="kabao-heat")
    seed(stack.sandbox_server.url)
    recorder = heat.install()
    recorder.counting = False  # the members' own set-up is not the mix
    from bench.soak import Soak

    soak = Soak(stack.api_url, stack.sandbox_server.url, args.members, seed=7)
    run = Run(stack.api_url, stack.sandbox_server.url, recorder, soak)
    everything = args.only is None
    mixed = run.mix(args.ops, args.clients, args.drop, args.rush) if everything else None
    dropped = run.drop(args.hot_drop) if everything else None
    walked, members = run.walks()
    stack.stop()
    saved = {"mixed": mixed, "dropped": dropped, "walked": walked, "members": members, "notes": run.notes,
             "load": list(load), "args": vars(args)}
    os.makedirs("build", exist_ok=True)
    with open("build/heat.json" if everything else f"build/heat-{args.only}.json", "w", encoding="utf-8") as out:
        json.dump(saved, out)
    report(**saved)
    return 0


def report(mixed: dict[str, Any] | None, dropped: dict[str, Any] | None, walked: dict[str, Any], members: int,
           notes: list[str], load: list[float], args: dict[str, Any]) -> None:
    """The tables of one run (its bookings, as `main` saves them in build/heat.json); `--only jobs` ran no mix
    and no drop."""
    print(f"Partition heat (load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the start; "
          f"{os.cpu_count()} cores; {args['members']} members)")
    jobs = _jobs(walked, members)
    if mixed is None or dropped is None:
        print(f"\nkeys over half their limit: {len(jobs)} in the jobs at 1000 members walked/s; " + "; ".join(notes))
        return
    requests = sum(mixed["operations"].values())
    print(f"mix: {requests} API requests ({args['ops']} soak operations, a {args['drop']}-claim drop, "
          f"{args['rush']} top-ups, report and audit reads); units booked {_total(mixed)}, DynamoDB Local reported "
          f"{mixed['reported']['read']:.0f} RCU {mixed['reported']['write']:.0f} WCU (its writes omit index writes)")
    for route, n in sorted(mixed["operations"].items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {n:6d}  {route}")
    hot = table(f"The mix at {PEAK} API requests/s for one merchant (x{PEAK / requests:.2f} per second of the run's "
                "units)", mixed, PEAK / requests, f"{PEAK} requests/s")
    claims = sum(n for route, n in dropped["operations"].items() if route.endswith("/claim"))
    listings = dropped["operations"].get("GET /v1/coupons/offers", 0)
    families(mixed, PEAK / requests)
    table(f"One hot coupon drop at {DROP_PEAK} claims/s ({claims} claims measured, a {DROP_STOCK}-unit template; "
          f"{listings} listings of the offers before them, {listings * DROP_PEAK // max(1, claims)}/s)",
          dropped, DROP_PEAK / max(1, claims), f"{DROP_PEAK} claims/s (the hottest sampled instance)")
    hot_drop = spread(dropped, DROP_PEAK / max(1, claims), f"{DROP_PEAK} claims/s")
    per_claim(dropped, claims)
    print(f"\nkeys over half their limit: {len(hot)} at {PEAK} requests/s, {len(hot_drop)} in the drop at {DROP_PEAK} "
          f"claims/s, {len(jobs)} in the jobs at 1000 members walked/s; " + "; ".join(notes))


def _jobs(walked: dict[str, Any], members: int) -> list[Row]:
    scale = 1000 / max(1, members)
    hot = table(f"Jobs walking the merchant's members ({members} members on the roster): units at 1000 members "
                "walked/s", walked, scale, "1000 members walked per second")
    families(walked, scale)
    return hot


def _total(dump: dict[str, Any]) -> str:
    reads = sum(b["reads"] for b in dump["bookings"])
    writes = sum(b["writes"] for b in dump["bookings"])
    return f"{reads:.0f} RCU {writes:.0f} WCU"


if __name__ == "__main__":
    raise SystemExit(main())
