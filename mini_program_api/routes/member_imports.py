"""Member imports (role admin): upload a file, check it (the dry run), run it, read progress and rows back.

The file goes to the upload URL first (a presigned S3 PUT in AWS; this API's own PUT locally, see
member_import/files.py); the import then names it by its upload id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.platform import clock
from mini_program_api.routes.endpoint import Call, endpoint

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.db.member_imports import ImportRow, MemberImport
    from mini_program_api.routes.schemas import ImportRowsQuery, MemberImportBody

bp = Blueprint(__name__)
# The body is the file's bytes, whatever type a client names (none is read as application/json by Chalice).
_FILE_TYPES = [
    "application/json",
    "application/octet-stream",
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
]


def _view(job: MemberImport, tz: str) -> dict[str, Any]:
    from mini_program_api.member_import import jobs

    def at(value: Any) -> str | None:
        return clock.iso(value, tz) if value else None

    return {
        "import_id": job.import_id,
        "file_name": job.file_name,
        "file_format": job.file_format,
        "merge_rule": job.merge_rule,
        "status": job.status,
        "file_error": job.file_error,
        "encoding": job.encoding,
        **jobs.view_counts(job),
        "last_error": job.due_error,
        "created_by": job.created_by,
        "created_at": clock.iso(job.created_at, tz),
        "checked_at": at(job.checked_at),
        "started_at": at(job.started_at),
        "finished_at": at(job.finished_at),
    }


def _row_view(row: ImportRow, tz: str) -> dict[str, Any]:
    return {
        "row": int(row.row),
        "phone": row.phone_masked,
        "action": row.action,
        "errors": [{"column": e["column"], "code": e["code"], "message": e["message"]} for e in row.errors or []],
        "outcome": row.outcome,
        "outcome_code": row.outcome_code,
        "member_id": row.member_id,
        "at": clock.iso(row.at, tz),
    }


@endpoint(
    bp,
    "/v1/admin/member-imports/uploads",
    "POST",
    role="admin",
    body="MemberImportUploadBody",
    response="MemberImportUploadView",
    status=201,
)
def new_upload(call: Call) -> dict[str, Any]:
    """Where to PUT the file: S3 in AWS (presigned), this API locally (with the admin's token)."""
    from mini_program_api.member_import import files

    upload = files.new_upload(call.caller.merchant_id)
    return {
        "upload_id": upload.upload_id,
        "url": upload.url,
        "method": "PUT",
        "headers": upload.headers,
        "authorized": upload.authorized,
        "expires_at": clock.iso(clock.now() + files.UPLOAD_TTL, call.timezone),
    }


@endpoint(
    bp,
    "/v1/admin/member-imports/uploads/{upload_id}",
    "PUT",
    role="admin",
    response="MemberImportUploadedView",
    errors=("UPLOAD_EXISTS", "UPLOAD_NOT_FOUND", "VALIDATION_ERROR", "REQUEST_TOO_LARGE"),
    content_types=_FILE_TYPES,
)
def receive_upload(call: Call, upload_id: str) -> dict[str, Any]:
    """The local store's upload (in AWS the file goes to the presigned S3 URL instead: 404 here)."""
    from mini_program_api.member_import import files

    size = files.receive(call.caller.merchant_id, upload_id, call.raw_body)
    return {"upload_id": upload_id, "size": size}


@endpoint(
    bp,
    "/v1/admin/member-imports",
    "POST",
    role="admin",
    body="MemberImportBody",
    response="MemberImportView",
    status=201,
    errors=("UPLOAD_NOT_FOUND", "IMPORT_EXISTS", "NOT_FOUND"),
)
def create_import(call: Call) -> dict[str, Any]:
    """Import an uploaded file: checked at once as far as a couple of seconds go (the scheduled
    member_imports_run goes on); the same file again is the same import."""
    from mini_program_api.member_import import jobs

    body: MemberImportBody = call.body
    return _view(jobs.create(call.caller, body.upload_id, body.file_name, body.merge_rule), call.timezone)


@endpoint(bp, "/v1/admin/member-imports", "GET", role="admin", query="PageQuery", response="MemberImportPage")
def list_imports(call: Call) -> dict[str, Any]:
    """The merchant's imports, paged."""
    from mini_program_api.member_import import jobs

    page = jobs.page(call.caller.merchant_id, call.query.cursor, call.query.limit)
    return {"imports": [_view(j, call.timezone) for j in page.items], "cursor": page.cursor}


@endpoint(bp, "/v1/admin/member-imports/{import_id}", "GET", role="admin", response="MemberImportView")
def get_import(call: Call, import_id: str) -> dict[str, Any]:
    """One import with its progress and counts."""
    from mini_program_api.member_import import jobs

    return _view(jobs.get(call.caller.merchant_id, import_id), call.timezone)


@endpoint(
    bp,
    "/v1/admin/member-imports/{import_id}/start",
    "POST",
    role="admin",
    response="MemberImportView",
    errors=("IMPORT_NOT_READY",),
)
def start_import(call: Call, import_id: str) -> dict[str, Any]:
    """Run a checked import (the rows the check passed); starting it again answers it as it is."""
    from mini_program_api.member_import import jobs

    return _view(jobs.start(call.caller, import_id), call.timezone)


@endpoint(
    bp,
    "/v1/admin/member-imports/{import_id}/rows",
    "GET",
    role="admin",
    query="ImportRowsQuery",
    response="ImportRowPage",
)
def import_rows(call: Call, import_id: str) -> dict[str, Any]:
    """Each row's check (action, errors by column) and run outcome, in file order, paged."""
    from mini_program_api.member_import import jobs

    q: ImportRowsQuery = call.query
    page = jobs.results(call.caller.merchant_id, import_id, q.cursor, q.limit, q.problems_only)
    return {"rows": [_row_view(r, call.timezone) for r in page.items], "cursor": page.cursor}
