"""Response shapes of the operations routes (issue 13: accounts, member care, the counter, member read-backs).

Each route returns its view through `shape`, so what leaves the API is exactly the model: a field the
view forgets is a 500 in the tests, never a silently different contract.
"""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

M = TypeVar("M", bound=BaseModel)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


def shape(model: type[M], view: dict[str, Any]) -> dict[str, Any]:
    """The view validated against its response model, as JSON-ready data."""
    return model.model_validate(view).model_dump(mode="json")


# --- stores, staff accounts, the audit trail ------------------------------------------------------


class StoreOut(Out):
    store_id: str
    name: str
    closed_at: str | None = None


class StaffAccountOut(Out):
    username: str
    role: str
    store_id: str | None
    disabled: bool
    locked_until: str | None
    created_at: str


class AuditRecordOut(Out):
    at: str
    actor: str
    role: str
    store_id: str | None
    action: str
    target: str
    member_id: str | None
    detail: dict[str, Any]


class AuditPage(Out):
    records: list[AuditRecordOut]
    cursor: str | None
