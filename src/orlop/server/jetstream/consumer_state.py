"""Building consumers, and keeping them across restarts.

A consumer of a file stream keeps two files under
``<stream dir>/obs/<name>/``: ``meta.json`` (config and creation time, written
when created or updated) and ``state.json`` (position, ack floor, pending acks
with their consumer sequences, redelivery counts). State changes are frequent,
so ``state.json`` is rewritten at most every ``STATE_FLUSH`` seconds after a
change (write to a temp file, rename) and once more, fsynced, when the consumer
stops; a crash can therefore only cause redeliveries, never lost messages.
As in nats-server, ephemeral consumers are kept too (they come back and are then
reaped after their inactive threshold); consumers with ``mem_storage`` and
consumers of memory streams are never written.

Recovery is a stream feature (:data:`FEATURE`, the first of
``AccountJetStream.FEATURES``): when a stream is recovered from disk, its
consumers come back before the stream takes messages, and pending acks
restart their ack-wait timers.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from orlop.server.jetstream.atrest import read_sealed, write_sealed
from orlop.server.jetstream.consumer import Consumer, Pending
from orlop.server.jetstream.consumer_pull import PullConsumer
from orlop.server.jetstream.consumer_push import PushConsumer
from orlop.server.jetstream.stream import Stream, StreamFeature

__all__ = ["FEATURE", "STATE_FLUSH", "attach", "build", "load_state", "recover", "save_meta", "state_dict"]

log = logging.getLogger("orlop.jetstream")

STATE_FLUSH = 1.0


def build(stream: Stream, name: str, config: dict[str, Any], created: int) -> Consumer:
    """A push or pull consumer for a normalised config (not started)."""
    if config.get("deliver_subject"):
        return PushConsumer(stream, name, config, created)
    return PullConsumer(stream, name, config, created)


def _dir(c: Consumer) -> Path | None:
    if c.stream.dir is None or c.config.get("mem_storage"):
        return None
    return c.stream.dir / "obs" / c.name


def _write(c: Consumer, path: Path, data: dict[str, Any], *, sync: bool) -> None:
    """Replace ``path`` only by a complete copy (a full disk leaves the old file). Raises OSError.

    Sealed with the stream's key when it is encrypted at rest (bound to the consumer and file).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data_bytes = json.dumps(data, separators=(",", ":")).encode()
    write_sealed(path, _purpose(path, c.name), c.stream.cipher, data_bytes, sync=sync)


def _purpose(path: Path, name: str) -> str:
    return ("consumer meta " if path.name == "meta.json" else "consumer state ") + name


def _read(stream: Stream, path: Path) -> Any:
    """A consumer file's JSON (opened with the stream's key when sealed). Raises OSError, ValueError."""
    return json.loads(read_sealed(path, _purpose(path, path.parent.name), stream.cipher))


def save_meta(c: Consumer) -> None:
    """Write ``meta.json`` of a persisted consumer (no-op for the others)."""
    d = _dir(c)
    if d is not None:
        _write(c, d / "meta.json", {"name": c.name, "config": c.config, "created": c.created}, sync=True)


def state_dict(c: Consumer) -> dict[str, Any]:
    """The persisted delivery state of ``c``."""
    return {
        "dseq": c.dseq,
        "sseq": c.sseq,
        "delivered_sseq": c.delivered_sseq,
        "adflr": c.adflr,
        "asflr": c.asflr,
        "lps": list(c.lps),
        "pending": [[s, p.cseq, p.ts] for s, p in c.pending.items()],
        "rdc": [[s, n] for s, n in c.rdc.items()],
    }


def attach(c: Consumer) -> None:
    """Persist a new consumer (file streams, no mem_storage) and flush its state after changes."""
    d = _dir(c)
    if d is None:
        return
    keeper = _Keeper(c, d)
    c.keeper = keeper
    try:
        save_meta(c)
    except OSError:  # e.g. a name too long for the file system: the consumer still works
        log.exception("could not persist consumer %s > %s", c.stream.name, c.name)
        keeper.flushing = False
        return
    keeper.write(sync=True)


class _Keeper:
    """A durable consumer's :class:`~.consumer.StateKeeper`: a debounced ``state.json`` writer."""

    def __init__(self, c: Consumer, d: Path) -> None:
        self.c = c
        self.dir = d
        self.path = d / "state.json"
        self.flushing = True  # False when even meta.json could not be written
        self.scheduled = False
        self.failing = False  # logged once until a write succeeds again

    def mark(self) -> None:
        if self.flushing and not self.scheduled and not self.c.closed:
            self.scheduled = True
            self.c.loop.call_later(STATE_FLUSH, self._flush)

    def _flush(self) -> None:
        self.scheduled = False
        if not self.c.closed:
            self.write(sync=False)

    def write(self, *, sync: bool) -> None:
        try:
            _write(self.c, self.path, state_dict(self.c), sync=sync)
        except OSError as exc:
            if not self.failing:
                log.error(
                    "could not write state of consumer %s > %s (kept in memory, retried after the "
                    "next change): %s",
                    self.c.stream.name,
                    self.c.name,
                    exc,
                )
            self.failing = True
            return
        if self.failing:
            log.info("state of consumer %s > %s written again", self.c.stream.name, self.c.name)
        self.failing = False

    def stopped(self, delete_state: bool) -> None:
        """Write the final state, or delete it with the consumer."""
        self.flushing = False
        if delete_state:
            shutil.rmtree(self.dir, ignore_errors=True)
        elif self.dir.is_dir():
            self.write(sync=True)


def load_state(c: Consumer, state: dict[str, Any]) -> None:
    """Restore a consumer's position from ``state.json`` and recount what is left to deliver."""
    c.dseq = int(state["dseq"])
    c.sseq = int(state["sseq"])
    c.delivered_sseq = int(state["delivered_sseq"])
    c.adflr, c.asflr = int(state["adflr"]), int(state["asflr"])
    store = c.stream.store
    lps = [int(s) for s in state.get("lps", []) if store.load(int(s)) is not None]
    c.lps.extend(lps)
    c.lps_set.update(lps)
    now = c.clock()
    for sseq, cseq, ts in state.get("pending", []):
        c.pending[int(sseq)] = Pending(int(cseq), int(ts), c.ack_deadline(now))
    c.rdc.update({int(s): int(n) for s, n in state.get("rdc", [])})
    first = store.fast_state().first_seq
    if c.sseq < first:
        c.sseq = first
    c.num_pending = len(lps) + c.count_from(c.sseq)


def recover(stream: Stream) -> None:
    """Bring back the consumers of a stream recovered from disk."""
    if stream.dir is None:
        return
    obs = stream.dir / "obs"
    if not obs.is_dir():
        return
    for d in sorted(obs.iterdir()):
        try:
            meta = _read(stream, d / "meta.json")
            c = build(stream, meta["name"], meta["config"], int(meta["created"]))
            state_file = d / "state.json"
            if state_file.is_file():
                load_state(c, _read(stream, state_file))
            else:
                c.init_position()
        except Exception:  # one broken consumer must not keep the stream down
            log.exception("could not recover consumer in %s", d)
            continue
        stream.consumers[c.name] = c
        attach(c)
        c.start()


def _no_wiring(stream: Stream) -> None:
    """Consumers come and go through the API; the stream stops them when it closes."""


FEATURE = StreamFeature("consumers", attach=_no_wiring, detach=_no_wiring, recover=recover)
