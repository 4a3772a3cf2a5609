"""The audit trail: hooks the server calls, records batched per loop tick to the file and live.

Why this shape: the hooks sit on paths that must stay fast, so each does the least it
can. The publish path calls nothing for chunks (only the meta subject of an ``OBJ_``
stream gets an audited subscriber, see :meth:`AuditTrail.meta_subscriber`); the API
dispatch, the direct get of ``OBJ_`` streams and the permission refusals call in
once per request. A record is appended to a list and one ``loop.call_soon`` per tick
writes the whole batch with one ``os.write`` (:mod:`.sink`) and publishes each line
on ``$SYS.AUDIT.OBJ.<account>.<bucket>`` into the owning account and the system
account, only when someone there listens. An fsync runs at most once a second, on a
helper thread.

Who did it: hooks run synchronously inside the publishing client's dispatch, so the
connection sets :attr:`AuditTrail.client` for the length of its batch and every
record made meanwhile names that client.

Naming an object read by its chunks: a get is a consumer (or a direct get) on
``$O.<b>.C.<nuid>``; the trail keeps, per bucket, nuid -> (name, size, revision),
built lazily from the stream's last meta message per subject and kept current from
each meta publish (:meth:`AuditTrail._index`). The same map tells an update_meta (a
nuid some meta already points at) from a put (a fresh nuid).

One client reading one object makes one ``get`` record: further gets of the same
nuid by the same client (range probes, pipelined chunk gets, ordered-consumer resets)
are folded into it until that client reads a meta again (every client's get starts
with one: the ``info``) or :data:`GET_REPEAT` seconds pass. Likewise a put refused on
its chunks is one ``denied`` record, not one per chunk.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from orlop.errors import JetStreamError
from orlop.server.account import Account
from orlop.server.audit.records import (
    ApiOp,
    Record,
    api_op,
    bucket_of_stream,
    decode_name,
    encode,
    meta_info,
    meta_op,
    split_subject,
)
from orlop.server.audit.sink import AuditFile, fsync_and_close
from orlop.store.base import StoredMsg, StreamStore

__all__ = ["GET_REPEAT", "LIVE_PREFIX", "AuditTrail", "may_subscribe"]

log = logging.getLogger("orlop.server.audit")

LIVE_PREFIX = "$SYS.AUDIT.OBJ."
GET_REPEAT = 60.0
SYNC_INTERVAL = 1.0
_MEMO_MAX = 4096

Callback = Callable[[str, str, bytes, bytes], None]
Outcome = StoredMsg | JetStreamError | None


class ClientView(Protocol):
    """The connection a record names (:class:`orlop.server.connection.Connection`)."""

    cid: int
    host: str
    port: int
    user: str
    account: Account


class StreamView(Protocol):
    """A stream as the trail reads it (:class:`orlop.server.jetstream.stream.Stream`)."""

    name: str
    account: Account
    store: StreamStore
    config: dict[str, Any]


class AccountJsView(Protocol):
    @property
    def streams(self) -> Mapping[str, StreamView]: ...

    @property
    def account(self) -> Account: ...


@dataclass(slots=True)
class ObjRef:
    name: str | None
    size: int | None
    revision: int


@dataclass(slots=True)
class Pending:
    """An API request seen before its handler ran."""

    who: tuple[str | None, int | None, str | None]
    account: str
    op: ApiOp
    time_ns: int
    ref: ObjRef | None = None


def may_subscribe(account: str, system_account: str, subject: str) -> bool:
    """Whether a client of ``account`` may subscribe to ``subject`` under ``$SYS.AUDIT.OBJ.``.

    The system account may subscribe to anything; another account only to subjects whose
    account token is its own name or a wildcard (it is only ever delivered its own records).
    """
    if account == system_account or not subject.startswith(LIVE_PREFIX):
        return True
    token = subject[len(LIVE_PREFIX) :].split(".", 1)[0]
    return token in (account, "*", ">")


class AuditTrail:
    """The audit trail of one server. ``server`` gives ``name``, ``accounts``, ``jetstream``."""

    def __init__(self, server: Any, file: str, max_size: int, max_files: int, system_account: str) -> None:
        self.server = server
        self.path = file
        self.max_size = max_size
        self.max_files = max_files
        self.system_account = system_account
        self.client: ClientView | None = None
        self.file: AuditFile | None = None
        self.records = 0  # written so far (monitoring, tests)
        self._pending: list[Record] = []
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_timer: asyncio.TimerHandle | None = None
        # (account, bucket) -> (the stream's store, nuid -> object, size that forces a rebuild)
        self._indexes: dict[tuple[str, str], tuple[StreamStore, dict[str, ObjRef], int]] = {}
        self._last_get: dict[int, tuple[str, str, float]] = {}
        self._last_denied: dict[int, str] = {}

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the file (OSError when it cannot be) and start the once-a-second fsync."""
        self._loop = loop
        self.file = AuditFile(self.path, self.max_size, self.max_files)
        self._sync_timer = loop.call_later(SYNC_INTERVAL, self._sync)

    def close(self) -> None:
        """Write what is pending, fsync and close the file (idempotent)."""
        self._flush()
        if self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None
        if self.file is not None:
            self.file.close()
            self.file = None

    def _sync(self) -> None:
        f, loop = self.file, self._loop
        if f is None or loop is None:
            return
        fd = f.sync_fd()
        if fd is not None:
            loop.run_in_executor(None, fsync_and_close, fd)
        self._sync_timer = loop.call_later(SYNC_INTERVAL, self._sync)

    # -- emitting -------------------------------------------------------------------------

    def _who(self) -> tuple[str | None, int | None, str | None]:
        c = self.client
        if c is None:
            return None, None, None
        return c.user or None, c.cid, f"{c.host}:{c.port}"

    def emit(self, record: Record) -> None:
        self._pending.append(record)
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        server = self.server.name
        lines = [encode(r, server) for r in batch]
        if self.file is not None:
            try:
                self.file.write(lines)
            except OSError as exc:
                log.error("audit file %s: write failed, %d records lost: %s", self.path, len(lines), exc)
        self.records += len(lines)
        accounts = self.server.accounts
        system = accounts.get(self.system_account) if self.system_account else None
        for r, line in zip(batch, lines, strict=True):
            subject = f"{LIVE_PREFIX}{r.account}.{r.bucket}"
            for acc in (accounts.get(r.account), system if r.account != self.system_account else None):
                if acc is not None and acc.has_interest(subject):
                    acc.publish(subject, "", b"", line[:-1])

    def _record(self, account: str, bucket: str, obj: str | None, op: str, **fields: Any) -> Record:
        user, cid, addr = self._who()
        return Record(time.time_ns(), account, user, cid, addr, bucket, obj, op, **fields)

    # -- the object index -----------------------------------------------------------------

    def _index(self, st: StreamView, bucket: str) -> dict[str, ObjRef]:
        key = (st.account.name, bucket)
        entry = self._indexes.get(key)
        if entry is not None and entry[0] is st.store:
            return entry[1]
        index: dict[str, ObjRef] = {}
        store = st.store
        for seq in store.last_seqs_per_subject(f"$O.{bucket}.M.>"):
            m = store.load(seq)
            info = meta_info(m.data) if m is not None else None
            if m is not None and info is not None and info.nuid:
                index[info.nuid] = ObjRef(info.name, info.size, m.seq)
        # Replaced objects leave their old nuid behind; a rebuild (current metas only) sheds them.
        self._indexes[key] = (store, index, 2 * len(index) + 1024)
        return index

    def _trim(self, account: str, bucket: str, index: dict[str, ObjRef]) -> None:
        entry = self._indexes.get((account, bucket))
        if entry is not None and entry[1] is index and len(index) > entry[2]:
            self._forget(account, bucket)

    def _forget(self, account: str, bucket: str) -> None:
        self._indexes.pop((account, bucket), None)

    def _stream(self, account: str, bucket: str) -> StreamView | None:
        js = self.server.jetstream
        ajs = js.accounts.get(account) if js is not None else None
        return ajs.streams.get("OBJ_" + bucket) if ajs is not None else None

    def _resolve(self, st: StreamView | None, bucket: str, nuid: str) -> ObjRef | None:
        return self._index(st, bucket).get(nuid) if st is not None else None

    def _new_read(self) -> None:
        """The client read a meta: its next get is a new read, not a repeat."""
        c = self.client
        if c is not None:
            self._last_get.pop(c.cid, None)

    def _repeat_get(self, bucket: str, nuid: str) -> bool:
        c = self.client
        if c is None:
            return False
        now = time.monotonic()
        last = self._last_get.get(c.cid)
        if last is not None and last[0] == bucket and last[1] == nuid and now - last[2] < GET_REPEAT:
            self._last_get[c.cid] = (bucket, nuid, now)
            return True
        if len(self._last_get) >= _MEMO_MAX:
            self._last_get.clear()
        self._last_get[c.cid] = (bucket, nuid, now)
        return False

    # -- JetStream API --------------------------------------------------------------------

    def api_request(self, js: AccountJsView, subject: str, body: bytes) -> Pending | None:
        """Before an API handler runs: None unless the request is an object-store operation."""
        if "OBJ_" not in subject:
            return None
        op = api_op(subject, body)
        if op is None:
            return None
        account = js.account.name
        st = js.streams.get("OBJ_" + op.bucket)
        p = Pending(self._who(), account, op, time.time_ns())
        if op.op == "info":
            self._new_read()
        if op.op == "update_bucket" and op.sealing and st is not None and not st.config.get("sealed"):
            op.op = "seal"
        if op.nuid:
            p.ref = self._resolve(st, op.bucket, op.nuid)
            if op.op == "get" and self._repeat_get(op.bucket, op.nuid):
                return None
        return p

    def api_response(self, p: Pending, resp: Mapping[str, Any] | None) -> None:
        """After the handler: the record, with the result the response carries."""
        op = p.op
        rec = Record(p.time_ns, p.account, *p.who, op.bucket, op.object, op.op)
        if p.ref is not None:
            rec.object = p.ref.name
            if op.op == "get":
                rec.bytes, rec.revision = p.ref.size, p.ref.revision
        err = resp.get("error") if resp is not None else None
        if isinstance(err, dict):
            rec.result = "error"
            code = err.get("err_code")
            rec.err_code = code if isinstance(code, int) else None
            rec.error = str(err.get("description") or "") or None
        elif op.op == "info" and resp is not None:
            self._info_fields(rec, resp.get("message"))
        if op.op in ("delete_bucket", "create_bucket") or op.whole:
            self._forget(p.account, op.bucket)
        self.emit(rec)

    @staticmethod
    def _info_fields(rec: Record, message: Any) -> None:
        if not isinstance(message, dict):
            return
        seq = message.get("seq")
        rec.revision = seq if isinstance(seq, int) else None
        data = message.get("data")
        if isinstance(data, str):
            try:
                info = meta_info(base64.b64decode(data))
            except (binascii.Error, ValueError):
                return
            rec.bytes = info.size if info is not None else None

    # -- direct gets of OBJ_ streams --------------------------------------------------------

    def direct_subscriber(self, st: StreamView, on_request: Callback) -> Callback:
        """Wrap a stream's direct-get subscriber (OBJ_ streams only) so meta and chunk reads are
        recorded; any other stream gets ``on_request`` back."""
        bucket = bucket_of_stream(st.name)
        if bucket is None:
            return on_request

        def audited(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
            op = api_op(subject, payload) if reply else None
            if op is None or op.bucket != bucket:
                on_request(subject, reply, hdr, payload)
                return
            on_request(subject, reply, hdr, payload)
            self._direct_done(st, op)

        return audited

    def _direct_done(self, st: StreamView, op: ApiOp) -> None:
        account = st.account.name
        if op.op == "get":
            if self._repeat_get(op.bucket, op.nuid):
                return
            ref = self._resolve(st, op.bucket, op.nuid)
            rec = self._record(account, op.bucket, ref.name if ref else None, "get")
            if ref is not None:
                rec.bytes, rec.revision = ref.size, ref.revision
        else:
            self._new_read()
            rec = self._record(account, op.bucket, op.object, "info")
            m = st.store.load_last(op.subject) if op.subject else None
            if m is None:
                rec.result, rec.error = "error", "message not found"
            else:
                info = meta_info(m.data)
                rec.revision, rec.bytes = m.seq, info.size if info is not None else None
        self.emit(rec)

    # -- meta publishes -------------------------------------------------------------------

    def meta_subscriber(
        self, st: StreamView, pattern: str, process: Callable[[Any, str, str, bytes, bytes], Outcome]
    ) -> Callback | None:
        """An audited subscriber for ``pattern`` when it is the meta subject of an OBJ_ stream,
        None otherwise (chunks and other streams keep the plain, unaudited path)."""
        bucket = bucket_of_stream(st.name)
        if bucket is None or pattern != f"$O.{bucket}.M.>":
            return None

        def on_meta(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
            parts = split_subject(subject)
            info = meta_info(payload)
            index = self._index(st, bucket)
            op = meta_op(info, info is not None and info.nuid in index)
            rec = self._record(st.account.name, bucket, _name(parts, info), op)
            outcome = process(st, subject, reply, hdr, payload)
            if outcome is None:
                return  # a Nats-Msg-Id duplicate: a retry of a publish already recorded
            if isinstance(outcome, JetStreamError):
                rec.result, rec.err_code, rec.error = "error", outcome.err_code, outcome.description
            else:
                rec.revision = outcome.seq
                previous = index.get(info.nuid) if info is not None else None
                if op == "delete":
                    rec.bytes = previous.size if previous is not None else None
                elif op != "link" and info is not None:
                    rec.bytes = info.size
                if info is not None and info.nuid:
                    index[info.nuid] = ObjRef(rec.object, info.size, outcome.seq)
                    self._trim(st.account.name, bucket, index)
            self.emit(rec)

        return on_meta

    # -- permissions ----------------------------------------------------------------------

    def denied_publish(self, client: ClientView, subject: str, payload: bytes) -> None:
        """A publish the client's permissions refused: a ``denied`` record when it was an
        object-store operation (one per refused put, not one per chunk)."""
        account = client.account.name
        parts = split_subject(subject)
        if parts is not None:
            bucket, kind, _token = parts
            if kind == "C":
                if self._last_denied.get(client.cid) == subject:
                    return
                if len(self._last_denied) >= _MEMO_MAX:
                    self._last_denied.clear()
                self._last_denied[client.cid] = subject
                self.emit(self._denied(client, account, bucket, None, "put"))
                return
            info = meta_info(payload)
            index = self._index_of(account, bucket)
            op = meta_op(info, info is not None and index is not None and info.nuid in index)
            self.emit(self._denied(client, account, bucket, _name(parts, info), op))
            return
        if "OBJ_" not in subject:
            return
        api = api_op(subject, payload)
        if api is None:
            return
        op = "seal" if api.op == "update_bucket" and api.sealing else api.op
        obj = api.object
        if api.nuid:
            ref = self._resolve(self._stream(account, api.bucket), api.bucket, api.nuid)
            obj = ref.name if ref is not None else None
        self.emit(self._denied(client, account, api.bucket, obj, op))

    def denied_subscribe(self, client: ClientView, subject: str) -> None:
        """A subscription refused on an object's subjects: a ``denied`` get (chunks) or watch (meta)."""
        parts = split_subject(subject)
        if parts is None:
            return
        bucket, kind, token = parts
        obj = decode_name(token) if kind == "M" else None
        self.emit(self._denied(client, client.account.name, bucket, obj, "get" if kind == "C" else "watch"))

    def _index_of(self, account: str, bucket: str) -> dict[str, ObjRef] | None:
        st = self._stream(account, bucket)
        return self._index(st, bucket) if st is not None else None

    def _denied(self, client: ClientView, account: str, bucket: str, obj: str | None, op: str) -> Record:
        return Record(
            time.time_ns(),
            account,
            client.user or None,
            client.cid,
            f"{client.host}:{client.port}",
            bucket,
            obj,
            op,
            result="denied",
            error="permissions violation",
        )


def _name(parts: tuple[str, str, str] | None, info: Any) -> str | None:
    """The object named by a meta subject, else by the meta JSON."""
    if parts is not None:
        name = decode_name(parts[2])
        if name is not None:
            return name
    return info.name if info is not None else None
