"""An object's recent history, read from the server's audit trail (``audit_file``).

``GET /api/v1/buckets/{bucket}/history/{name}`` answers the newest records of one object,
newest first. It sits beside ``/versions/{name}`` rather than under ``/objects/{name}``:
that path takes any object name, so ``/objects/a/history`` must stay the object called
``a/history``.

The gateway reads the file the server writes, so it works only where the gateway runs
beside the server (or sees its disk) and may read the file: without ``audit_file`` the
answer is 501 "audit trail not configured". The trail has no access control of its own,
so the route borrows the other routes': the caller must be able to open the bucket with
its own credentials. The gateway cannot ask NATS which account a caller is in; records
are matched by bucket and object name, and by account only when ``audit_accounts`` maps
the caller's NATS user to one (a caller it does not map then sees none). Without that
map, two accounts' buckets of the same name share a history.

The scan reads the files backwards in blocks and parses only lines that name the object
(:func:`orlop.auditlog.recent`), on a worker thread: a request costs about the blocks it
reads, not the size of the trail.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from orlop.auditlog import recent
from orlop.gateway.errors import ERROR_RESPONSES, ErrorResponse, GatewayError, error_body
from orlop.gateway.state import Gateway, client_for, open_bucket
from orlop.objects import ObjectStoreClient

__all__ = ["HistoryEntry", "HistoryOut", "router"]

NOT_CONFIGURED = (501, 10501, "audit trail not configured")
_TEXT = ("time", "op", "result")  # always strings in the answer
_FIELDS = {"account": str, "user": str, "bytes": int, "revision": int, "err_code": int, "error": str}

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
Client = Annotated[ObjectStoreClient, Depends(client_for)]


class HistoryEntry(BaseModel):
    """One audit record, without the client's id and address (they stay in the file)."""

    time: str
    account: str | None = None
    user: str | None = None
    op: str
    bytes: int | None = None
    revision: int | None = None
    result: str
    err_code: int | None = None
    error: str | None = None


class HistoryOut(BaseModel):
    bucket: str
    name: str
    records: list[HistoryEntry]
    more: bool  # older records may exist (the limit was reached, or the scan stopped)


def _account(gw: Gateway, request: Request) -> str | None:
    """The account whose records the caller sees: None for any, "" for none."""
    if not gw.config.audit_accounts:
        return None
    user = gw.credentials(request).user if gw.auth != "none" else gw.config.nats_options.get("user", "")
    return gw.config.audit_accounts.get(str(user or ""), "")


def _entry(record: dict[str, Any]) -> dict[str, Any]:
    """The record as its documented shape (a field of an unexpected type becomes null)."""
    out: dict[str, Any] = {key: str(record.get(key) or "") for key in _TEXT}
    for key, kind in _FIELDS.items():
        value = record.get(key)
        ok = isinstance(value, kind) and not isinstance(value, bool)
        out[key] = value if ok else None
    return out


@router.get(
    "/buckets/{bucket}/history/{name:path}",
    response_model=HistoryOut,
    name="history",
    responses={
        NOT_CONFIGURED[0]: {
            "description": NOT_CONFIGURED[2],
            "content": {"application/json": {"example": error_body(*NOT_CONFIGURED)}},
            "model": ErrorResponse,
        }
    },
)
async def history(
    bucket: str,
    name: str,
    client: Client,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JSONResponse:
    """The object's newest audit records, newest first (501 when no audit file is configured)."""
    await open_bucket(client, bucket)  # only for a caller who may open the bucket
    gw: Gateway = request.app.state.gateway
    if not gw.config.audit_file:
        raise GatewayError(*NOT_CONFIGURED)
    account = _account(gw, request)
    if account == "":
        return JSONResponse({"bucket": bucket, "name": name, "records": [], "more": False})

    def wanted(record: dict[str, Any]) -> bool:
        return (
            record.get("bucket") == bucket
            and record.get("object") == name
            and (account is None or record.get("account") == account)
        )

    try:
        records, more = await asyncio.to_thread(
            recent, gw.config.audit_file, wanted, needle=name, limit=limit
        )
    except OSError as exc:
        raise GatewayError(503, 10503, f"the audit file cannot be read: {exc.strerror or exc}") from None
    body = {"bucket": bucket, "name": name, "records": [_entry(r) for r in records], "more": more}
    return JSONResponse(body)
