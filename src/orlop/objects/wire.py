"""JetStream requests and pipelined publishes over nats-py's public API only.

nats-py's JetStream layer parses responses into dataclasses that drop fields
and reach into private attributes; we speak the JSON API directly with
``nc.request`` and keep our own reply mux for publishes (one wildcard
subscription ``<inbox>.*``, one future per message), which is what lets a put
keep many chunks in flight. Errors surface as :class:`orlop.errors.JetStreamError`
(the server's own code/err_code/description); the public layer translates them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from orlop.errors import JetStreamError, JetStreamNotEnabled, ObjectStoreUnavailable, PermissionDenied
from orlop.jsapi.errors import Err, js_error
from orlop.objects.errors import NOT_ENABLED

__all__ = ["StoredMsg", "Wire", "parse_msg_get"]

# Wire.handed_off: how often it looks, and how long it waits at most.
_HANDOFF_POLL = 0.0002
_HANDOFF_WAIT = 1.0
# Wire.patiently: seconds a read keeps trying while JetStream does not answer, first and
# longest pause. nats-server's raft groups wait 4-9 s before calling an election; when the
# dead node led the meta group too, two elections run (10 s was seen to fall short on a
# loaded 2-core machine).
_PATIENCE = 20.0
_RETRY_FIRST = 0.25
_RETRY_MAX = 2.0

T = TypeVar("T")


def _transient(err: JetStreamError) -> bool:
    """A JetStream error that a leader election explains (503, "temporarily unavailable" 10008)."""
    return err.err_code == Err.CLUSTER_NOT_AVAIL.err_code or (
        err.code == 503 and err.err_code not in NOT_ENABLED
    )


def _error_of(resp: dict[str, Any]) -> JetStreamError | None:
    err = resp.get("error")
    if not err:
        return None
    return JetStreamError(
        int(err.get("code", 500)), int(err.get("err_code", 0)), str(err.get("description", ""))
    )


def parse_msg_get(resp: dict[str, Any]) -> tuple[str, int, bytes, bytes, str]:
    """``(subject, seq, hdrs, data, time)`` of a STREAM.MSG.GET response's message."""
    import base64

    m = resp["message"]
    hdrs = base64.b64decode(m["hdrs"]) if m.get("hdrs") else b""
    data = base64.b64decode(m["data"]) if m.get("data") else b""
    return m["subject"], int(m["seq"]), hdrs, data, str(m.get("time", ""))


def parse_stored(resp: dict[str, Any]) -> StoredMsg:
    """A STREAM.MSG.GET response's message as StoredMsg."""
    subject, seq, hdrs, data, ts = parse_msg_get(resp)
    return StoredMsg(subject, seq, _header_block(hdrs) if hdrs else {}, data, ts)


@dataclass(slots=True)
class StoredMsg:
    """A message read from a stream: subject, sequence, stored headers, payload, RFC 3339 time."""

    subject: str
    seq: int
    headers: dict[str, str]
    data: bytes
    time: str

    def header(self, key: str) -> str | None:
        """A stored header's value (case-insensitive key), None when absent."""
        low = key.lower()
        return next((v for k, v in self.headers.items() if k.lower() == low), None)


def _header_block(block: bytes) -> dict[str, str]:
    """``NATS/1.0`` header block -> ``{key: value}`` (last value of a repeated key wins)."""
    out: dict[str, str] = {}
    for line in block.split(b"\r\n")[1:]:
        k, sep, v = line.partition(b":")
        if sep:
            out[k.strip().decode()] = v.strip().decode()
    return out


_DIRECT_META = ("nats-stream", "nats-subject", "nats-sequence", "nats-time-stamp")


def _direct_result(msg: Msg) -> StoredMsg | None:
    """A DIRECT.GET answer as StoredMsg; None for 404, JetStreamError for other statuses."""
    hdrs = msg.headers or {}
    status = hdrs.get("Status")
    if status == "404":
        return None
    if status:
        raise JetStreamError(int(status) if status.isdigit() else 500, 0, hdrs.get("Description", ""))
    low = {k.lower(): v for k, v in hdrs.items()}
    stored = {k: v for k, v in hdrs.items() if k.lower() not in _DIRECT_META}
    return StoredMsg(
        low.get("nats-subject", ""),
        int(low.get("nats-sequence", "0")),
        stored,
        msg.data,
        low.get("nats-time-stamp", ""),
    )


class NoStreamResponders(JetStreamError):
    """A publish found nobody behind its subject (status 503): reported as "stream not found".

    On a cluster that is also what a publish gets while the stream elects a new
    leader; :func:`orlop.objects.put.put_object` asks the stream which it was.
    """


class Wire:
    """Request/response and acknowledged publishes on one nats-py connection.

    ``timeout`` bounds every single request and every single PubAck wait (per
    chunk, never per transfer).
    """

    def __init__(self, nc: NATS, *, api_prefix: str = "$JS.API", timeout: float = 5.0) -> None:
        self.nc = nc
        self.api_prefix = api_prefix
        self.timeout = timeout
        self._mux: str | None = None
        self._mux_lock = asyncio.Lock()
        self._futures: dict[str, asyncio.Future[int]] = {}
        self._next = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        # Waits that a permission error for their subject ends at once: subject (lower case,
        # as nats-py reports it) -> the timeouts to cut short.
        self._denials: dict[str, list[asyncio.Timeout]] = {}
        self._denied: set[int] = set()  # ids of the timeouts cut short by a denial
        self._api_level: int | None = None

    def connection_closed(self) -> None:
        """The connection closed for good (nats-py's ``closed_cb``): the PubAcks still awaited
        will not come, so their waits fail now, saying why, instead of at their timeout."""
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(ObjectStoreUnavailable("the connection to the NATS server closed"))
        self._futures.clear()

    # -- permission errors ---------------------------------------------------
    def server_error(self, exc: BaseException) -> None:
        """Take an asynchronous server error (nats-py's ``error_cb``): a refused publish ends its wait.

        nats-server keeps the connection open after ``-ERR 'Permissions Violation for
        Publish to "<subject>"'`` and sends no reply, so without this a refused request
        would wait for its timeout (and a patient read retry for ~20 s) before failing.
        """
        text = str(exc)
        marker = 'permissions violation for publish to "'
        at = text.lower().find(marker)
        if at < 0:
            return
        subject = text[at + len(marker) :].split('"', 1)[0].lower()
        for cm in self._denials.pop(subject, ()):
            self._denied.add(id(cm))
            if cm.expired() is False:
                cm.reschedule(asyncio.get_running_loop().time())

    @contextlib.asynccontextmanager
    async def _guard(self, subject: str, seconds: float, what: str) -> AsyncIterator[None]:
        """A timeout of ``seconds`` for a wait on ``subject`` that a permission error cuts short."""
        key = subject.lower()
        try:
            async with asyncio.timeout(seconds) as cm:
                self._denials.setdefault(key, []).append(cm)
                yield
        except TimeoutError as e:
            if id(cm) in self._denied:
                raise PermissionDenied(f"permission denied: {what} ({subject})") from e
            raise
        finally:
            waiting = self._denials.get(key)
            if waiting is not None:
                with contextlib.suppress(ValueError):
                    waiting.remove(cm)
                if not waiting:
                    self._denials.pop(key, None)
            self._denied.discard(id(cm))

    # -- JSON API ---------------------------------------------------------
    async def patiently(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()``, tried again while JetStream does not answer, for about ``_PATIENCE`` s.

        For requests that may safely run twice (reads, ephemeral consumers). On a
        nats-server cluster a stream whose leader went away answers nothing (or 503,
        "JetStream system temporarily unavailable", err_code 10008) until a new
        leader is elected, which takes seconds; a client whose server died is
        reconnecting meanwhile. Anything else is raised at once: JetStreamNotEnabled
        does not pass by itself, a closed connection will not come back, and no
        attempt starts after the deadline.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _PATIENCE
        delay = _RETRY_FIRST
        while True:
            try:
                return await attempt()
            except JetStreamNotEnabled:
                raise
            except ObjectStoreUnavailable:
                if self.nc.is_closed or loop.time() + delay >= deadline:
                    raise
            except JetStreamError as e:
                if not _transient(e) or loop.time() + delay >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)

    async def api_level(self) -> int:
        """The server's JetStream API level ($JS.API.INFO), asked once per Wire; 0 when unknown."""
        if self._api_level is None:
            try:
                info = await self.request("INFO")
                self._api_level = int((info.get("api") or {}).get("level") or 0)
            except (JetStreamError, ObjectStoreUnavailable, ValueError, TypeError):
                self._api_level = 0
        return self._api_level

    async def request(
        self,
        api: str,
        body: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        patient: bool = False,
    ) -> dict[str, Any]:
        """Call ``$JS.API.<api>``; returns the JSON response, raises JetStreamError on an error reply.

        Transport failures raise ObjectStoreUnavailable (JetStreamNotEnabled when
        nobody serves the API). ``patient``: a read that may run twice, retried
        through a leader election (:meth:`patiently`).
        """
        if patient:
            return await self.patiently(lambda: self.request(api, body, timeout=timeout))
        payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        subject = f"{self.api_prefix}.{api}"
        wait = timeout or self.timeout
        try:
            async with self._guard(subject, wait + 1.0, f"JetStream request {api}"):
                msg = await self.nc.request(subject, payload, timeout=wait)
        except nats.errors.NoRespondersError as e:
            raise JetStreamNotEnabled("JetStream is not enabled (no responders)") from e
        except (TimeoutError, nats.errors.TimeoutError) as e:
            raise ObjectStoreUnavailable(f"JetStream request {api} timed out") from e
        except nats.errors.Error as e:
            raise ObjectStoreUnavailable(f"JetStream request {api} failed: {e}") from e
        try:
            resp = json.loads(msg.data)
        except ValueError as e:
            raise ObjectStoreUnavailable(f"invalid JSON in the answer to {api}") from e
        err = _error_of(resp)
        if err is not None:
            raise err
        return resp  # type: ignore[no-any-return]

    async def get_msg(
        self, stream: str, body: dict[str, Any], *, direct: bool, replicated: bool = False
    ) -> StoredMsg | None:
        """One stored message (``seq``, ``last_by_subj`` or ``next_by_subj`` + ``seq``); None when none.

        ``direct`` (the stream has ``allow_direct``) uses DIRECT.GET: answered by
        the stream itself in one raw message, no JSON or base64, about twice as
        fast as STREAM.MSG.GET on nats-server. A last-by-subject lookup uses the
        subject form with an empty payload, as nats.go's ``jetstream`` package does.
        Raises JetStreamError (10059 when the stream is gone), ObjectStoreUnavailable.

        ``replicated`` (a stream with more than one replica): any replica answers a
        DIRECT.GET, and one that has not caught up yet says "no message" for what
        was just stored (seen on a 3-node nats-server cluster after its stream
        leader changed: a put returned, the get of that name found nothing). On
        such streams a miss is asked again of the stream leader (STREAM.MSG.GET).
        Both lookups are retried through a leader election (:meth:`patiently`).
        """
        if direct:
            found = await self.patiently(lambda: self._direct_get(stream, body))
            if found is not None or not replicated:
                return found
        try:
            return parse_stored(await self.request(f"STREAM.MSG.GET.{stream}", body, patient=True))
        except JetStreamError as e:
            if e.err_code == Err.NO_MESSAGE_FOUND.err_code:
                return None
            raise

    async def _direct_get(self, stream: str, body: dict[str, Any]) -> StoredMsg | None:
        if set(body) == {"last_by_subj"}:
            subject, payload = f"{self.api_prefix}.DIRECT.GET.{stream}.{body['last_by_subj']}", b""
        else:
            subject = f"{self.api_prefix}.DIRECT.GET.{stream}"
            payload = json.dumps(body, separators=(",", ":")).encode()
        try:
            async with self._guard(subject, self.timeout + 1.0, f"direct get on {stream}"):
                msg = await self.nc.request(subject, payload, timeout=self.timeout)
        except nats.errors.NoRespondersError as e:
            raise js_error(Err.STREAM_NOT_FOUND) from e
        except (TimeoutError, nats.errors.TimeoutError) as e:
            raise ObjectStoreUnavailable(f"direct get on {stream} timed out") from e
        except nats.errors.Error as e:
            raise ObjectStoreUnavailable(f"direct get on {stream} failed: {e}") from e
        return _direct_result(msg)

    # -- acknowledged publishes -------------------------------------------
    async def _ensure_mux(self) -> str:
        if self._mux is None:
            async with self._mux_lock:
                if self._mux is None:
                    prefix = self.nc.new_inbox()
                    await self.nc.subscribe(prefix + ".*", cb=self._on_ack)
                    self._mux = prefix
        return self._mux

    async def _on_ack(self, msg: Msg) -> None:
        token = msg.subject.rpartition(".")[2]
        fut = self._futures.pop(token, None)
        if fut is None or fut.done():
            return
        if msg.headers and msg.headers.get("Status") == "503":
            # No-responders status: no stream behind the subject, or (in a cluster) its
            # stream has no leader at this moment. Callers that can tell them apart do.
            nf = Err.STREAM_NOT_FOUND
            fut.set_exception(NoStreamResponders(nf.code, nf.err_code, nf.description))
            return
        try:
            resp = json.loads(msg.data)
        except ValueError:
            fut.set_exception(ObjectStoreUnavailable("invalid PubAck"))
            return
        err = _error_of(resp)
        if err is not None:
            fut.set_exception(err)
        else:
            fut.set_result(int(resp.get("seq", 0)))

    async def publish_nowait(
        self,
        subject: str,
        payload: bytes,
        headers: dict[str, str] | None = None,
        *,
        into: collections.deque[asyncio.Future[int]] | None = None,
    ) -> asyncio.Future[int]:
        """Publish into a stream; the returned future resolves to the stored sequence.

        The future fails with JetStreamError (server refusal) and never resolves
        when the server does not answer: await it through :meth:`ack`.
        ``into`` receives the future before the message goes to nats-py, and keeps
        it when the caller is cancelled meanwhile: nats-py queues a message before
        its first await, so it will be sent and its PubAck must still be settled.
        """
        prefix = self._mux or await self._ensure_mux()
        self._next += 1
        token = str(self._next)
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        fut.token = token  # type: ignore[attr-defined]
        fut.subject = subject  # type: ignore[attr-defined]
        self._futures[token] = fut
        if into is not None:
            into.append(fut)
        try:
            await self.nc.publish(subject, payload, reply=f"{prefix}.{token}", headers=headers)
        except BaseException as e:
            if into is None or not isinstance(e, asyncio.CancelledError):
                self._futures.pop(token, None)
                if into is not None:
                    into.remove(fut)
            raise
        return fut

    async def handed_off(self) -> None:
        """Wait (briefly) until nats-py has handed its queued frames to the socket.

        nats-py appends every PUB to a pending list and its flusher task writes
        the whole list when the publisher next yields. A put that publishes a
        window of chunks back to back therefore hands the transport one frame
        of many MiB: with asyncio's transport (Python 3.11) that is a join into
        a fresh buffer, a slice of what the socket did not take and a copy into
        the transport's buffer, about three extra copies per byte, all of them
        in freshly mapped pages. Waiting here after each chunk keeps the list
        at one frame, which the transport sends straight from the frame.
        It halves the client's CPU per MiB of a big put (figures:
        docs/performance.md, lab notes).

        Pacing only, never correctness. The flusher takes the whole list at
        once, so the frame just queued has left once the list is shorter than
        it is now (other tasks may refill it meanwhile). The wait ends early
        while the connection is not connected (nats-py keeps the frames for the
        reconnect) and after ``_HANDOFF_WAIT`` seconds in any case.
        """
        nc = self.nc
        mark = nc.pending_data_size
        if mark == 0:
            return
        deadline = 0.0
        spins = 0
        while nc.pending_data_size >= mark and nc.is_connected:
            spins += 1
            if spins <= 2:
                # The flusher is usually just waiting to be scheduled.
                await asyncio.sleep(0)
                continue
            now = asyncio.get_running_loop().time()
            if not deadline:
                deadline = now + _HANDOFF_WAIT
            elif now >= deadline:
                return
            # The flusher waits for the socket to drain: poll, do not spin.
            await asyncio.sleep(_HANDOFF_POLL)

    async def ack(self, fut: asyncio.Future[int], timeout: float | None = None) -> int:
        """The sequence of a publish; ObjectStoreUnavailable when no PubAck arrives in time."""
        if fut.done():
            return fut.result()
        try:
            async with self._guard(getattr(fut, "subject", ""), timeout or self.timeout, "publish"):
                return await asyncio.shield(fut)
        except PermissionDenied:
            self._futures.pop(getattr(fut, "token", ""), None)
            fut.cancel()
            raise
        except TimeoutError as e:
            self._futures.pop(getattr(fut, "token", ""), None)
            fut.cancel()
            raise ObjectStoreUnavailable("no PubAck from the server in time") from e

    async def settle(self, futs: Iterable[asyncio.Future[int]]) -> None:
        """Wait for these PubAcks, success or not, for one ``timeout`` in all; then forget the rest.

        For cleanup after a failed transfer: its purge must come after every chunk
        the server will still store. One shared deadline, not one per PubAck: when
        a connection or a stream leader is lost, none of them is coming, and a
        window of 64 chunks waited for one by one took over five minutes to fail
        (measured on a 3-node nats-server cluster, stream leader killed mid-put).
        """
        futs = list(futs)
        waiting = [f for f in futs if not f.done()]
        if waiting and not self.nc.is_closed:  # on a closed connection none is coming
            await asyncio.wait(waiting, timeout=self.timeout)
        for fut in futs:
            if not fut.done():
                self._futures.pop(getattr(fut, "token", ""), None)
                fut.cancel()
            elif not fut.cancelled():
                fut.exception()  # retrieved: the transfer's own error is what the caller sees

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> int:
        """Publish and wait for the PubAck; returns the stream sequence."""
        return await self.ack(await self.publish_nowait(subject, payload, headers))

    # -- background work ----------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run fire-and-forget cleanup (consumer deletes); errors are swallowed, close() waits."""

        async def quiet() -> None:
            with contextlib.suppress(Exception):
                await coro

        task = asyncio.get_running_loop().create_task(quiet())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain_background(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
