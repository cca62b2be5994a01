"""A member import: checked (the dry run), then run, a page of rows at a time by the scheduled runner.

- The import's id derives from (merchant, the file's sha256): posting the same file again is the same
  import, whatever its upload, so a file imported twice creates nothing twice.
- The check (status CHECKING) reads every row (rows.py), claims its phone within the import (a second row with
  that phone is DUPLICATE_PHONE, naming the first), looks the phone up among the merchant's members and writes
  the row's result: CREATE, MERGE, REFUSE (with why) or ERROR (every problem, by column). Nothing outside the
  import's own items is written. Then CHECKED: the admin reads the results (paged) and starts the run.
- The run (RUNNING) reads the file again and applies each row the check passed, as ONE operation keyed by
  (import, phone) (`op_key`): a new member is created with its phone, card number and opening balances in one
  transaction (ledger kind IMPORT, the member put with `attribute_not_exists`: money/ledger.py `new_member`);
  a phone that is already a member is refused or has the balances added, as the merchant chose
  (`merge_rule`), never a second member. The row's outcome and the import's count are written in that same
  transaction, conditional on the row having no outcome yet, so a page done twice (a crash before the cursor
  was saved, two runners) creates, adds and counts nothing twice.
- Principal above the merchant's prepaid cap (with what the member already holds and has pending) refuses the
  row (OVER_PREPAID_CAP), never truncates it.
- Each pass saves its place (row number, byte offset) after every page, pinned to the place it read, so two
  runners never both advance one import; the runner's deadline stops it between rows and the next run resumes.
  A row that raises something unexpected is recorded FAILED with the error's name and the import goes on; a
  database that does not answer fails the page, and the import is deferred with backoff (jobs/due.py).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from pynamodb.expressions.update import Action

from mini_program_api.db import transact
from mini_program_api.db.ledger import OperationRecord
from mini_program_api.db.member_imports import ImportRow, MemberImport, import_phone_pk, import_row_pk, member_import_pk
from mini_program_api.db.models import LOOKUP, PROFILE, Lookup, Member, Merchant, cardholders_pk, lookup_pk, member_pk
from mini_program_api.db.transact import Cancelled, Transaction, update_if
from mini_program_api.jobs import due, records, runner
from mini_program_api.member_care import tags
from mini_program_api.member_import import files, rows
from mini_program_api.members import due_dates, names, tiers
from mini_program_api.merchants import merchants
from mini_program_api.money import idempotency, ledger
from mini_program_api.money.ledger import Account, Operation, Posting
from mini_program_api.platform import clock, ids, paging, pii
from mini_program_api.platform.auth import Principal
from mini_program_api.platform.errors import KabaoError
from mini_program_api.reports import counters, roster
from mini_program_api.staff import audit
from mini_program_api.webhooks import events, outbox

log = logging.getLogger(__name__)
JOB = "member_import"
PAGE = 100
WORKERS = 8  # rows of a page applied at once (threads: the work is waiting on DynamoDB)
INLINE_SECONDS = 2.0  # a POST checks (or runs) what it can in this time; the scheduled runner does the rest
CHECKING, CHECKED, RUNNING, DONE, FAILED = "CHECKING", "CHECKED", "RUNNING", "DONE", "FAILED"
REFUSE, ADD = "refuse", "add"
CREATE, MERGE, REFUSED_ACTION, ERROR = "CREATE", "MERGE", "REFUSE", "ERROR"
IMPORTED, MERGED, REFUSED, SKIPPED, ROW_FAILED = "IMPORTED", "MERGED", "REFUSED", "SKIPPED", "FAILED"
_CHECK_COUNT = {CREATE: "to_create", MERGE: "to_merge", REFUSED_ACTION: "to_refuse", ERROR: "errors"}
_ATTEMPTS = 4
_SCENE = "import"  # the members report's entry scene for imported members


def import_id_for(merchant_id: str, sha256: str) -> str:
    return "I" + hashlib.sha256(f"{merchant_id}|{sha256}".encode()).hexdigest()[:24]


def op_key(import_id: str, phone_hash: str) -> str:
    """The row's one operation: (import, phone)."""
    return f"import:{import_id}:{phone_hash[:32]}"


# --- the admin's side --------------------------------------------------------------------------------


def create(actor: Principal, upload_id: str, file_name: str, merge_rule: str) -> MemberImport:
    """The import of an uploaded file, checked at once as far as `INLINE_SECONDS` allow (the runner goes on)."""
    merchant_id = actor.merchant_id
    key = files.object_key(merchant_id, upload_id)
    if not files.store().exists(key):
        raise KabaoError("UPLOAD_NOT_FOUND", "no file was uploaded under this id")
    sha, file_format = files.fingerprint(key)
    import_id = import_id_for(merchant_id, sha)
    existing = _find(merchant_id, import_id)
    if existing is not None:
        return _same(existing, merge_rule)
    now = clock.now()
    due_pk, due_sk = due.slot(JOB, f"{merchant_id}#{import_id}", now)
    job = MemberImport(
        member_import_pk(merchant_id),
        import_id,
        merchant_id=merchant_id,
        import_id=import_id,
        upload_id=upload_id,
        file_name=file_name,
        file_format=file_format,
        sha256=sha,
        merge_rule=merge_rule,
        status=CHECKING,
        row=0,
        offset=0,
        created_by=actor.subject,
        created_at=now,
        lsi1=records.listed(now, import_id),
        due_pk=due_pk,
        due_sk=due_sk,
    )
    tx = Transaction()
    tx.put("import", job, condition=MemberImport.sk.does_not_exist())
    detail: dict[str, str | int] = {"file_name": file_name[:100], "merge_rule": merge_rule, "sha256": sha}
    audit.record(tx, actor, "MEMBER_IMPORT_CREATED", import_id, detail, now)
    try:
        tx.commit()
    except Cancelled as exc:
        found = _find(merchant_id, import_id)
        if found is None:
            raise KabaoError("CONCURRENT_UPDATE", "retry") from exc
        return _same(found, merge_rule)
    work(merchant_id, import_id, time.monotonic() + INLINE_SECONDS)
    return get(merchant_id, import_id)


def _same(job: MemberImport, merge_rule: str) -> MemberImport:
    if job.merge_rule != merge_rule:
        raise KabaoError(
            "IMPORT_EXISTS", "this file was imported already, with the other merge rule", import_id=job.import_id
        )
    return job


def start(actor: Principal, import_id: str) -> MemberImport:
    """Run a checked import (again: a start of a running or finished one returns it as it is)."""
    job = get(actor.merchant_id, import_id)
    if job.status in (RUNNING, DONE):
        return job
    if job.status != CHECKED:
        raise KabaoError("IMPORT_NOT_READY", f"the import is {job.status}: only a checked file can run")
    now = clock.now()
    due_pk, due_sk = due.slot(JOB, f"{job.merchant_id}#{job.import_id}", now)
    tx = Transaction()
    tx.update(
        "import",
        job,
        actions=[
            MemberImport.status.set(RUNNING),
            MemberImport.row.set(0),
            MemberImport.offset.set(0),
            MemberImport.columns.remove(),  # the header is read again: it gives the first data row's offset
            MemberImport.started_at.set(now),
            MemberImport.due_pk.set(due_pk),
            MemberImport.due_sk.set(due_sk),
            *due.settled(MemberImport),
        ],
        condition=MemberImport.status == CHECKED,
    )
    audit.record(tx, actor, "MEMBER_IMPORT_STARTED", import_id, {"merge_rule": str(job.merge_rule)}, now)
    try:
        tx.commit()
    except Cancelled:
        return get(actor.merchant_id, import_id)  # started by a concurrent request
    work(actor.merchant_id, import_id, time.monotonic() + INLINE_SECONDS)
    return get(actor.merchant_id, import_id)


RECORDS = records.Records(MemberImport, member_import_pk, "no such import")
_find, get, page = RECORDS.find, RECORDS.get, RECORDS.page


def results(
    merchant_id: str, import_id: str, cursor: str | None, limit: int, problems_only: bool = False
) -> paging.Page[ImportRow]:
    """The rows' results in file order; `problems_only`: the rows refused or in error (a page may hold
    fewer than `limit` then: the filter applies after the read, the cursor goes on from the last read)."""
    get(merchant_id, import_id)
    pk = import_row_pk(merchant_id, import_id)
    page = paging.partition(ImportRow, pk, cursor, limit)
    if not problems_only:
        return page
    found = [r for r in page.items if _problem(r)]
    reads = 1
    while page.cursor is not None and len(found) < limit and reads < _MAX_READS:
        page = paging.partition(ImportRow, pk, page.cursor, limit)
        found += [r for r in page.items if _problem(r)]
        reads += 1
    return paging.Page(found, page.cursor)


_MAX_READS = 10  # pages of rows read for one page of problems: a long run of good rows answers with a cursor


def _problem(row: ImportRow) -> bool:
    return row.action in (ERROR, REFUSED_ACTION) or row.outcome in (REFUSED, ROW_FAILED)


# --- working through an import ------------------------------------------------------------------------


@dataclass
class Report(runner.Report):
    job: str = JOB
    imports: int = 0
    rows: int = 0  # rows checked or applied during this run


def run(now: datetime | None = None, deadline: float | None = None, limit: int = 20, page_size: int = PAGE) -> Report:
    """Every import owed a pass, until done or `deadline` (time.monotonic); the next run resumes the rest."""
    at = now or clock.now()
    report = Report()

    def handle(pk: str, sk: str) -> None:
        report.imports += 1
        report.rows += work(pk.split("#")[1], sk, deadline, page_size)
        if runner.out_of_time(deadline):
            report.stopped_early = report.more = True

    runner.due_list(report, MemberImport, handle, at, limit, deadline)
    return report


def work(merchant_id: str, import_id: str, deadline: float | None, page_size: int = PAGE) -> int:
    """The import's pass (check or run) from its saved place until it ends or the deadline; rows handled."""
    job = _find(merchant_id, import_id)
    if job is None or job.status not in (CHECKING, RUNNING):
        return 0
    merchant = merchants.get(merchant_id)
    key = files.stored_key(merchant_id, str(job.upload_id))
    try:
        if not job.columns:
            _read_header(job, key)
    except files.FileProblem as problem:
        _fail(job, problem)
        return 0
    columns = [str(c) for c in job.columns or []]
    handled = 0
    stream = _raw_rows(job, key)
    while True:
        batch, after = _take(stream, page_size, deadline)
        if job.status == CHECKING:
            _check_page(job, merchant, columns, batch)
        else:
            _parallel(lambda raw: _apply_row(job, merchant, columns, raw), batch)
        handled += len(batch)
        finished = after is None
        if batch or finished:
            place = after or (int(job.row), int(job.offset))
            if not _advance(job, place, finished):
                break  # another runner moved it on
        if finished or runner.out_of_time(deadline):
            break
    return handled


def _read_header(job: MemberImport, key: str) -> None:
    if job.file_format == "xlsx":
        cells, encoding, offset = files.xlsx_header(key), "xlsx", 0
    else:
        cells, encoding, offset = files.csv_header(key)
    columns, problems = rows.header(cells)
    if problems:
        first = problems[0]
        raise files.FileProblem(first.code, "; ".join(p.message for p in problems)[:500], first.column)
    update_if(
        job,
        [
            MemberImport.columns.set(cast(Any, columns)),  # pynamodb's stubs type a list's items as attributes
            MemberImport.encoding.set(encoding),
            MemberImport.offset.set(offset),
        ],
        MemberImport.columns.does_not_exist(),
    )
    job.columns, job.encoding, job.offset = cast(Any, columns), encoding, offset


def _raw_rows(job: MemberImport, key: str) -> Iterator[files.RawRow]:
    start = int(job.row) + 1
    if job.file_format == "xlsx":
        return files.xlsx_rows(key, start)
    return files.csv_rows(key, str(job.encoding), start, int(job.offset))


def _take(
    stream: Iterator[files.RawRow], size: int, deadline: float | None
) -> tuple[list[files.RawRow], tuple[int, int] | None]:
    """Up to `size` rows, fewer when the deadline comes; the place after them, None at the file's end."""
    batch: list[files.RawRow] = []
    for raw in stream:
        batch.append(raw)
        if len(batch) >= size or runner.out_of_time(deadline):
            return batch, (raw.number, raw.next_offset)
    return batch, None


def _advance(job: MemberImport, place: tuple[int, int], finished: bool) -> bool:
    pinned = (MemberImport.row == job.row) & (MemberImport.status == job.status)
    actions: list[Action] = [MemberImport.row.set(place[0]), MemberImport.offset.set(place[1])]
    if finished:
        ended = CHECKED if job.status == CHECKING else DONE
        stamp = MemberImport.checked_at if job.status == CHECKING else MemberImport.finished_at
        actions += [MemberImport.status.set(ended), stamp.set(clock.now()), *due.unslot(MemberImport)]
    if not update_if(job, actions, pinned):
        return False
    job.row, job.offset = place
    if finished:
        job.status = CHECKED if job.status == CHECKING else DONE
    return True


def _fail(job: MemberImport, problem: files.FileProblem) -> None:
    """The whole file is unreadable: the import fails, its reason on the header's row (row 0) too."""
    tx = Transaction()
    tx.put(
        "row",
        ImportRow(
            import_row_pk(job.merchant_id, job.import_id),
            _row_sk(0),
            row=0,
            action=ERROR,
            errors=[{"column": problem.column or "file", "code": problem.code, "message": problem.message}],
            at=clock.now(),
        ),
    )
    tx.update(
        "import",
        job,
        actions=[
            MemberImport.status.set(FAILED),
            MemberImport.file_error.set(problem.code),
            MemberImport.finished_at.set(clock.now()),
            *due.unslot(MemberImport),
        ],
        condition=MemberImport.status == job.status,
    )
    try:
        tx.commit()
    except Cancelled:
        pass  # another runner failed it first


def _row_sk(number: int) -> str:
    return f"{number:09d}"


def _tiers(merchant: Merchant) -> dict[str, str]:
    found: dict[str, str] = {}
    for tier in merchant.tiers:
        found[str(tier.tier_id)] = str(tier.tier_id)
        found[str(tier.name)] = str(tier.tier_id)
        found[str(tier.name).lower()] = str(tier.tier_id)
    return found


def _today(merchant: Merchant) -> date:
    return clock.local_date(merchant.timezone)


def _parsed(merchant: Merchant, columns: list[str], raw: files.RawRow) -> tuple[rows.Row | None, list[rows.Problem]]:
    if raw.cells is None:
        code, message = raw.error or ("BAD_ROW", "unreadable")
        return None, [rows.Problem("row", code, message)]
    return rows.parse(raw.number, columns, raw.cells, raw.formulas, _tiers(merchant), _today(merchant))


def _parallel(handle: Callable[[Any], None], items: list[Any]) -> None:
    """A page's rows, `WORKERS` at a time: each row is a few DynamoDB round trips and rows never share an item
    (a phone is one row: duplicates are the check's errors), so the page takes the time of its slowest rows, not
    of all of them in turn. An exception fails the page (it is done again), as one row at a time would."""
    if len(items) <= 1:
        for item in items:
            handle(item)
        return
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        list(pool.map(handle, items))


# --- the check (dry run) -------------------------------------------------------------------------------


def _check_page(job: MemberImport, merchant: Merchant, columns: list[str], batch: list[files.RawRow]) -> None:
    """Parse the page, find the phones it holds twice (the later rows are duplicates without a claim), then check
    its rows in parallel: the claims of distinct phones never race one another."""
    parsed = [(raw, *_parsed(merchant, columns, raw)) for raw in batch]
    first: dict[str, int] = {}
    for raw, row, _ in parsed:
        if row is not None:
            first.setdefault(row.phone, raw.number)
    _parallel(lambda item: _check(job, merchant, item[0], item[1], item[2], first), parsed)


def _check(
    job: MemberImport,
    merchant: Merchant,
    raw: files.RawRow,
    row: rows.Row | None,
    problems: list[rows.Problem],
    first_in_page: dict[str, int],
) -> None:
    action, member_id, masked = ERROR, None, None
    if row is not None:
        masked = pii.mask_phone(row.phone)
        digest = pii.phone_hash(job.merchant_id, row.phone)
        first = first_in_page[row.phone]
        if first == row.number:
            first = _claim_phone(job, digest, row.number)
        if first != row.number:
            problems.append(rows.Problem("phone", "DUPLICATE_PHONE", f"the same phone as row {first}"))
        else:
            action, problem, member_id = _would(job, merchant, row, digest)
            if problem is not None:
                problems.append(problem)
    counted = ["rows_read", _CHECK_COUNT[action], *([] if action == ERROR else ["valid"])]
    tx = Transaction()
    tx.put(
        "row",
        ImportRow(
            import_row_pk(job.merchant_id, job.import_id),
            _row_sk(raw.number),
            row=raw.number,
            phone_masked=masked,
            action=action,
            errors=[p.stored() for p in problems] or None,
            member_id=member_id,
            at=clock.now(),
        ),
        condition=ImportRow.sk.does_not_exist(),
    )
    tx.update("import", MemberImport(job.pk, job.sk), actions=[getattr(MemberImport, c).add(1) for c in counted])
    try:
        tx.commit()
    except Cancelled:
        pass  # checked already (a page done again, or a second runner): counted once


def _claim_phone(job: MemberImport, digest: str, number: int) -> int:
    """The first row of the file with this phone (claimed by the row that gets there first)."""
    item = Lookup(import_phone_pk(job.merchant_id, job.import_id), digest, target=str(number))
    if transact.put_new(item):
        return number
    found = Lookup.get(import_phone_pk(job.merchant_id, job.import_id), digest, consistent_read=True)
    return int(found.target)


def _existing(merchant_id: str, digest: str) -> Member | None:
    try:
        member_id = Lookup.get(lookup_pk(merchant_id, "PHONE", digest), LOOKUP, consistent_read=True).target
    except Lookup.DoesNotExist:
        return None
    try:
        return Member.get(member_pk(merchant_id, member_id), PROFILE, consistent_read=True)
    except Member.DoesNotExist:
        return None


def _would(
    job: MemberImport, merchant: Merchant, row: rows.Row, digest: str
) -> tuple[str, rows.Problem | None, str | None]:
    """What the run would do with a valid row today: (action, why it is refused, the member merged into)."""
    cap = int(merchant.prepaid_cap)
    member = _existing(job.merchant_id, digest)
    if member is None:
        if row.principal > cap:
            return ERROR, _over_cap(row.principal, cap), None
        return CREATE, None, None
    if job.merge_rule == REFUSE:
        return (
            REFUSED_ACTION,
            rows.Problem("phone", "ALREADY_MEMBER", "already a member: the merge rule is refuse"),
            None,
        )
    held = int(member.principal) + int(member.pending_topup)
    if held + row.principal > cap:
        return REFUSED_ACTION, _over_cap(held + row.principal, cap), member.member_id
    return MERGE, None, member.member_id


def _over_cap(principal: int, cap: int) -> rows.Problem:
    return rows.Problem(
        "principal", "OVER_PREPAID_CAP", f"principal would be {principal} fen, above the prepaid cap of {cap}"
    )


# --- the run -----------------------------------------------------------------------------------------------


def _apply_row(job: MemberImport, merchant: Merchant, columns: list[str], raw: files.RawRow) -> None:
    key = (import_row_pk(job.merchant_id, job.import_id), _row_sk(raw.number))
    try:
        checked = ImportRow.get(*key, consistent_read=True)
    except ImportRow.DoesNotExist:
        checked = None
    if checked is not None and checked.outcome is not None:
        return  # applied by an earlier run
    row, problems = _parsed(merchant, columns, raw)
    if checked is None or checked.action == ERROR or row is None:
        _settle(job, key, SKIPPED, (problems[0].code if problems else "NOT_CHECKED"), None)
        return
    try:
        for _ in range(_ATTEMPTS):
            outcome = _apply(job, merchant, row, key)
            if outcome is not None:
                return
        _settle(job, key, ROW_FAILED, "CONCURRENT_UPDATE", None)
    except Exception as exc:
        if transact.unavailable(exc):
            raise  # DynamoDB did not answer: the page is done again later
        code = exc.code if isinstance(exc, KabaoError) else type(exc).__name__
        log.warning("member import row failed", extra={"job": JOB, "error": code}, exc_info=True)
        _settle(job, key, ROW_FAILED, code, None)


def _settle(job: MemberImport, key: tuple[str, str], outcome: str, code: str | None, member_id: str | None) -> None:
    """A row's outcome without a member write (skipped, refused, failed): once, counted once."""
    tx = Transaction()
    _stage_outcome(tx, job, key, outcome, code, member_id)
    try:
        tx.commit()
    except Cancelled:
        pass  # settled by a concurrent runner


def _stage_outcome(
    tx: Transaction, job: MemberImport, key: tuple[str, str], outcome: str, code: str | None, member_id: str | None
) -> None:
    actions: list[Action] = [ImportRow.outcome.set(outcome), ImportRow.at.set(clock.now())]
    if code is not None:
        actions.append(ImportRow.outcome_code.set(code))
    if member_id is not None:
        actions.append(ImportRow.member_id.set(member_id))
    tx.update("row", ImportRow(*key), actions=actions, condition=ImportRow.outcome.does_not_exist())
    tx.update("import", MemberImport(job.pk, job.sk), actions=[getattr(MemberImport, outcome.lower()).add(1)])


def _operation(job: MemberImport, row: rows.Row, digest: str) -> Operation | None:
    amounts = {
        Account.POINTS: row.points,
        Account.PRINCIPAL: row.principal,
        Account.BONUS: row.bonus,
        Account.GROWTH: row.growth,
    }
    postings = tuple(Posting(account, amount) for account, amount in amounts.items() if amount)
    if not postings:
        return None
    memo: dict[str, str | int] = {"import_id": job.import_id, "row": row.number}
    if row.points_expire_on:
        memo["points_expire_on"] = row.points_expire_on
    return Operation(op_key(job.import_id, digest), ledger.IMPORT, postings, memo=memo)


def _apply(job: MemberImport, merchant: Merchant, row: rows.Row, key: tuple[str, str]) -> str | None:
    """One attempt at the row; its outcome, or None when it must be tried again (a race it lost)."""
    digest = pii.phone_hash(job.merchant_id, row.phone)
    member = _existing(job.merchant_id, digest)
    if member is None:
        return _create(job, merchant, row, key, digest)
    if job.merge_rule == REFUSE:
        _settle(job, key, REFUSED, "ALREADY_MEMBER", member.member_id)
        return REFUSED
    return _merge(job, merchant, row, key, digest, member)


def _create(job: MemberImport, merchant: Merchant, row: rows.Row, key: tuple[str, str], digest: str) -> str | None:
    if row.principal > int(merchant.prepaid_cap):
        _settle(job, key, REFUSED, "OVER_PREPAID_CAP", None)
        return REFUSED
    merchant_id, now = job.merchant_id, clock.now()
    member_id = ids.new_id()  # random, as a login's: an erased member's phone must not lead back to their row
    kept = bool(row.card_number) and _card_free(merchant_id, str(row.card_number))
    number = str(row.card_number) if kept else ids.card_number()
    tier_id = row.tier_id or tiers.for_growth(merchant, row.growth).tier_id
    invite_code = ids.invite_code()
    tag_ids = _tag_ids(merchant_id, row)
    member = Member(
        member_pk(merchant_id, member_id),
        PROFILE,
        merchant_id=merchant_id,
        member_id=member_id,
        phone_enc=pii.encrypt_phone(row.phone),
        phone_hash=digest,
        phone_masked=pii.mask_phone(row.phone),
        card_number=number,
        card_opened_at=now,
        name=row.name,
        birthday=row.birthday,
        tier_id=tier_id,
        tier_reached_at=now,
        invite_code=invite_code,
        scene=_SCENE,
        created_at=now,
        imported_by=job.import_id,
        external_id=row.external_id,
        joined_on=row.joined_on,
        tag_ids=tag_ids or None,
        cards_pk=cardholders_pk(merchant_id, member_id),
        cards_sk=member_id,
        **roster.keys(merchant_id, member_id),
    )
    tx = Transaction()
    tx.put(
        "phone",
        Lookup(lookup_pk(merchant_id, "PHONE", digest), LOOKUP, target=member_id),
        condition=Lookup.pk.does_not_exist(),
    )
    tx.put(
        "card",
        Lookup(lookup_pk(merchant_id, "CARD", number), LOOKUP, target=member_id),
        condition=Lookup.pk.does_not_exist(),
    )
    tx.put(
        "invite",
        Lookup(lookup_pk(merchant_id, "INVITE", invite_code), LOOKUP, target=member_id),
        condition=Lookup.pk.does_not_exist(),
    )
    # Before the ledger's points/stored-value events: an endpoint hears of the member before their balances.
    outbox.add(tx, merchant_id, member_id, events.MEMBER_CREATED, {"scene": _SCENE, "invited_by": None})
    outbox.add(tx, merchant_id, member_id, events.CARD_OPENED, {"card_number": number, "tier_id": tier_id})
    operation = _operation(job, row, digest)
    if row.points and row.points_expire_on:  # the lot's own date (members/due_dates.py): on a new member, from 0
        member.point_lots = {job.import_id: due_dates.dated_lot(merchant, row.points, row.points_expire_on, 0, now)}
    if operation is not None:
        ledger.stage(tx, merchant_id, member_id, operation, new_member=member)
    else:
        tx.put("balance", member, condition=Member.pk.does_not_exist())
    tags.stage_new(tx, merchant_id, member_id, tag_ids)
    names.stage(tx, merchant_id, member_id, None, row.name)
    counters.member(tx, merchant_id, member_id, "new", _SCENE, now)
    counters.member(tx, merchant_id, member_id, "cards", _SCENE, now)
    due_dates.card_opened(tx, merchant, member, date.fromisoformat(row.birthday) if row.birthday else None, now)
    due_dates.imported_points(tx, merchant, member, row.points, row.points_expire_on, now, new_member=True)
    replaced = "NEW_CARD_NUMBER" if row.card_number and not kept else None  # the file's number was taken
    _stage_outcome(tx, job, key, IMPORTED, replaced, member_id)
    try:
        tx.commit()
    except Cancelled as exc:
        if "row" in exc.failed:
            return IMPORTED  # another runner applied the row
        return None  # the phone became a member meanwhile, or a card number or invite code collided: again
    return IMPORTED


def _tag_ids(merchant_id: str, row: rows.Row) -> set[str]:
    """The row's tag names as the merchant's tags (member_care/tags.py), each made when the merchant has none of
    that name: members carry tags by id, counted in the tag, so an imported tag is a tag like any other."""
    return {tags.ensure(merchant_id, name) for name in row.tags or ()}


def _card_free(merchant_id: str, number: str) -> bool:
    try:
        Lookup.get(lookup_pk(merchant_id, "CARD", number), LOOKUP, consistent_read=True)
    except Lookup.DoesNotExist:
        return True
    return False


def _merge(
    job: MemberImport, merchant: Merchant, row: rows.Row, key: tuple[str, str], digest: str, member: Member
) -> str | None:
    """The `add` rule: the row's balances onto the member, in the member's own transaction, pinned to the
    principal and pending top-ups the cap was checked against; the higher tier; what the member lacks."""
    cap = int(merchant.prepaid_cap)
    held = int(member.principal) + int(member.pending_topup)
    operation = _operation(job, row, digest)
    if operation is not None and _applied(job.merchant_id, member.member_id, operation.op_key):
        _settle(job, key, MERGED, None, member.member_id)  # the operation ran; only its outcome was lost
        return MERGED
    if held + row.principal > cap:
        _settle(job, key, REFUSED, "OVER_PREPAID_CAP", member.member_id)
        return REFUSED
    actions: list[Action] = []
    if row.tier_id and _rank(merchant, row.tier_id) > _rank(merchant, member.tier_id):
        actions += [Member.tier_id.set(row.tier_id), Member.tier_reached_at.set(clock.now())]
    for field in ("name", "birthday", "external_id", "joined_on"):
        if getattr(row, field) and not getattr(member, field):
            actions.append(getattr(Member, field).set(getattr(row, field)))
    new_tags = _tag_ids(job.merchant_id, row) - {str(t) for t in member.tag_ids or ()}
    if new_tags:
        actions.append(Member.tag_ids.add(new_tags))
    pinned = (Member.principal == int(member.principal)) & (Member.pending_topup == int(member.pending_topup))
    if member.phone_masked is None and member.phone_enc and member.phone_hash == digest:
        # The member was found by this row's phone (its keyed hash), so the number is the one they hold: a row bound
        # before the masked copy existed gets it, pinned to that number (a new number meanwhile brings its own).
        actions.append(Member.phone_masked.set(pii.mask_phone(row.phone)))
        pinned &= Member.phone_hash == digest
    # A row without balances is a plain update, which the ledger's erased condition does not cover: an erasure
    # committed since the read must not get the file's name, ids and tags back (data_rights/erasure.py).
    pinned &= Member.erased_at.does_not_exist()
    tx = Transaction()
    tags.stage_new(tx, job.merchant_id, member.member_id, new_tags)  # a tag put on meanwhile cancels: read again
    if row.name and not member.name:  # the name is set by this row: its search entry with it, pinned to no name
        names.stage(tx, job.merchant_id, member.member_id, None, row.name)
        pinned &= Member.name.does_not_exist()
    if row.points and row.points_expire_on:
        # The lot's own date, and the balance it lands on (pinned: a spend since the read tries again), which the
        # expiry needs when the member had spent before it (members/lifecycle.py).
        lot = due_dates.dated_lot(merchant, row.points, row.points_expire_on, int(member.points), clock.now())
        if member.point_lots is None:
            actions.append(Member.point_lots.set({job.import_id: lot}))
            pinned &= Member.point_lots.does_not_exist()
        else:
            actions.append(Member.point_lots[job.import_id].set(lot))
            pinned &= Member.point_lots.exists()
        pinned &= Member.points == int(member.points)
    if row.points:
        due_dates.imported_points(tx, merchant, member, row.points, row.points_expire_on, clock.now())
    if operation is not None:
        ledger.stage(tx, job.merchant_id, member.member_id, operation, member_actions=actions, member_condition=pinned)
    elif actions:
        tx.update("balance", member, actions=actions, condition=pinned)
    _stage_outcome(tx, job, key, MERGED, None, member.member_id)
    try:
        tx.commit()
    except Cancelled as exc:
        if "row" in exc.failed:
            return MERGED  # another runner applied the row
        return None  # the member changed (a top-up, a spend): read again and try again
    return MERGED


def _applied(merchant_id: str, member_id: str, key: str) -> bool:
    pk, sk = idempotency.key(merchant_id, key, member_id).item_key
    try:
        OperationRecord.get(pk, sk, consistent_read=True)
    except OperationRecord.DoesNotExist:
        return False
    return True


def _rank(merchant: Merchant, tier_id: str | None) -> int:
    ordered = [str(t.tier_id) for t in tiers.ordered(merchant)]
    return ordered.index(tier_id) if tier_id in ordered else -1


COUNTS = ("rows_read", "valid", "errors", "to_create", "to_merge", "to_refuse")
OUTCOMES = ("imported", "merged", "refused", "skipped", "failed")


def view_counts(job: MemberImport) -> dict[str, int]:
    """The check's and the run's counts."""
    return {name: int(getattr(job, name) or 0) for name in (*COUNTS, *OUTCOMES)}
