"""Member import: rows/s of the check (dry run) and of the run on the local stack, peak memory, and the model for
100 000 rows in the cloud.

    python -m bench.import [ROWS]      # 20 000 by default; make bench runs it

A generated CSV (every row valid, a quarter with opening balances in all four accounts) is uploaded to the local
store and imported by the job itself (member_import/jobs.py `work`, as the scheduled function calls it), timed
per pass. Memory: the Python heap's peak during each pass (tracemalloc) and the process's maximum RSS, which stay
flat whatever the file's size because the file is streamed a page at a time. Then the same rows as an XLSX, read
by python-calamine and by openpyxl's read-only mode (why calamine is the reader).

The cloud model: each row costs a fixed number of DynamoDB round trips (counted below from the code's calls: the
check reads the phone lookup, claims the phone in the file and writes its row; the run reads the row and the
phone lookup and the card number, then one transaction), each about 10 ms from a Lambda in the table's region.
One `member_imports_run` (900 s, 1024 MB: chalice.json) stops before its deadline and the next minute's run
resumes, so 100 000 rows take several runs, never one that runs out of time.
"""

from __future__ import annotations

import io
import resource
import sys
import time
import tracemalloc
import uuid

from bench import quiet_app

CHECK_CALLS_PER_ROW = 4  # phone claim put, phone lookup get (+ member get when one exists), row + count transaction
RUN_CALLS_PER_ROW = 5  # row get, phone lookup get, card lookup get, the member's transaction (+ retries: none here)
CLOUD_CALL_MS = 10.0
LAMBDA_SECONDS = 900
CLOUD_ROWS = 100_000


def _csv(rows: int) -> bytes:
    lines = ["手机号,姓名,生日,成长值,积分,本金,赠送金,标签"]
    for i in range(rows):
        balances = f"{i % 500},{i % 1000},{i % 300}.50,{i % 50}" if i % 4 == 0 else ",,,"
        lines.append(f"1{3 + i % 7}{i:09d},会员{i},1990-01-{1 + i % 28:02d},{balances},导入")
    return ("\n".join(lines) + "\n").encode()


def _xlsx(body: bytes) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    for line in body.decode().splitlines():
        sheet.append(line.split(","))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _pass(merchant_id: str, import_id: str) -> tuple[float, int]:
    from mini_program_api.member_import import jobs

    tracemalloc.start()
    started = time.perf_counter()
    while jobs.get(merchant_id, import_id).status in (jobs.CHECKING, jobs.RUNNING):
        jobs.work(merchant_id, import_id, time.monotonic() + 60)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak


def main() -> None:
    quiet_app()
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    from infra.local import stack as local_stack

    stack = local_stack.start(stage="local", table="kabao-bench-import")
    from infra.local.seed import seed
    from mini_program_api.member_import import files, jobs
    from mini_program_api.platform.auth import Principal

    seed(stack.sandbox_server.url)
    body = _csv(rows)
    upload_id = "U" + uuid.uuid4().hex
    files.store().save(files.stored_key("demo", upload_id), body)  # what the upload's PUT keeps
    admin = Principal("demo", "bench-admin", "admin")
    jobs.INLINE_SECONDS = 0.0  # everything in the timed passes below
    job = jobs.create(admin, upload_id, "bench.csv", "refuse")
    check_s, check_peak = _pass("demo", job.import_id)
    jobs.start(admin, job.import_id)
    run_s, run_peak = _pass("demo", job.import_id)
    done = jobs.view_counts(jobs.get("demo", job.import_id))
    stack.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"\nMember import on the local stack: {rows} rows, a {len(body) / 1e6:.1f} MB CSV")
    print(f"{'pass':>6} {'seconds':>8} {'rows/s':>7} {'heap peak MB':>13}")
    print(f"{'check':>6} {check_s:8.1f} {rows / check_s:7.0f} {check_peak / 1e6:13.1f}")
    print(f"{'run':>6} {run_s:8.1f} {rows / run_s:7.0f} {run_peak / 1e6:13.1f}")
    print(f"counts: {done}; process max RSS {rss_mb:.0f} MB (the stack's client and DynamoDB Local's driver included)")
    if done["imported"] != rows or done["valid"] != rows:
        raise SystemExit("the import did not create every row")

    xlsx = _xlsx(body)
    path = "/tmp/kabao-bench-import.xlsx"
    with open(path, "wb") as f:
        f.write(xlsx)
    started = time.perf_counter()
    from python_calamine import CalamineWorkbook

    read = sum(1 for _ in CalamineWorkbook.from_path(path).get_sheet_by_index(0).iter_rows())
    calamine_s = time.perf_counter() - started
    started = time.perf_counter()
    import openpyxl

    read_openpyxl = sum(1 for _ in openpyxl.load_workbook(path, read_only=True).active.iter_rows(values_only=True))
    openpyxl_s = time.perf_counter() - started
    print(
        f"\nReading the same rows as an XLSX ({len(xlsx) / 1e6:.1f} MB): python-calamine {calamine_s:.2f} s "
        f"({read} rows), openpyxl read-only {openpyxl_s:.2f} s ({read_openpyxl} rows)"
    )

    per_row_s = (CHECK_CALLS_PER_ROW + RUN_CALLS_PER_ROW) * CLOUD_CALL_MS / 1000
    total = CLOUD_ROWS * per_row_s
    print(
        f"\nCloud model for {CLOUD_ROWS} rows: {CHECK_CALLS_PER_ROW} + {RUN_CALLS_PER_ROW} DynamoDB calls a row at "
        f"~{CLOUD_CALL_MS:.0f} ms: {total / 60:.0f} min of work in all, {1 / per_row_s:.0f} rows/s for one runner; "
        f"{-(-total // LAMBDA_SECONDS):.0f} runs of member_imports_run ({LAMBDA_SECONDS} s each, resumed every "
        f"minute); memory flat (the file is streamed: the heap peak above does not grow with the rows)"
    )


if __name__ == "__main__":
    main()
