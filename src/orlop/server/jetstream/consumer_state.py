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

Recovery hooks into the stream's open path (``STREAM_OPEN_HOOKS``): when a
stream is recovered from disk, its consumers come back before the
stream takes messages, and pending acks restart their ack-wait timers.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from orlop.server.jetstream.consumer import Consumer, Pending
from orlop.server.jetstream.consumer_pull import PullConsumer
from orlop.server.jetstream.consumer_push import PushConsumer
from orlop.server.jetstream.stream import STREAM_OPEN_HOOKS, Stream
from orlop.store.fsio import atomic_write

__all__ = ["STATE_FLUSH", "attach", "build", "load_state", "on_stop", "recover", "save_meta", "state_dict"]

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


def _write(path: Path, data: dict[str, Any], *, sync: bool) -> None:
    """Replace ``path`` only by a complete copy (a full disk leaves the old file). Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, separators=(",", ":")).encode(), sync=sync)


def save_meta(c: Consumer) -> None:
    """Write ``meta.json`` of a persisted consumer (no-op for the others)."""
    d = _dir(c)
    if d is not None:
        _write(d / "meta.json", {"name": c.name, "config": c.config, "created": c.created}, sync=True)


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
    try:
        save_meta(c)
    except OSError:  # e.g. a name too long for the file system: the consumer still works
        log.exception("could not persist consumer %s > %s", c.stream.name, c.name)
        return
    flush = _Flusher(c, d / "state.json")
    c.on_dirty = flush.mark
    flush.write(sync=True)


class _Flusher:
    """Debounced writer of ``state.json``."""

    def __init__(self, c: Consumer, path: Path) -> None:
        self.c = c
        self.path = path
        self.scheduled = False
        self.failing = False  # logged once until a write succeeds again

    def mark(self) -> None:
        if not self.scheduled and not self.c.closed:
            self.scheduled = True
            self.c.loop.call_later(STATE_FLUSH, self._flush)

    def _flush(self) -> None:
        self.scheduled = False
        if not self.c.closed:
            self.write(sync=False)

    def write(self, *, sync: bool) -> None:
        try:
            _write(self.path, state_dict(self.c), sync=sync)
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


def on_stop(c: Consumer, delete_state: bool) -> None:
    """Called by :meth:`Consumer.stop`: write the final state, or delete it."""
    d = _dir(c)
    if d is None:
        return
    c.on_dirty = None
    if delete_state:
        shutil.rmtree(d, ignore_errors=True)
        return
    if d.is_dir():
        _Flusher(c, d / "state.json").write(sync=True)


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
        c.pending[int(sseq)] = Pending(int(cseq), int(ts), now + c.ack_wait)
    c.rdc.update({int(s): int(n) for s, n in state.get("rdc", [])})
    first = store.fast_state().first_seq
    if c.sseq < first:
        c.sseq = first
    c.num_pending = len(lps) + c._count(c.sseq)


def recover(stream: Stream, recovered: bool) -> None:
    """STREAM_OPEN_HOOKS entry: bring back the consumers of a recovered stream."""
    if not recovered or stream.dir is None:
        return
    obs = stream.dir / "obs"
    if not obs.is_dir():
        return
    for d in sorted(obs.iterdir()):
        try:
            meta = json.loads((d / "meta.json").read_bytes())
            c = build(stream, meta["name"], meta["config"], int(meta["created"]))
            state_file = d / "state.json"
            if state_file.is_file():
                load_state(c, json.loads(state_file.read_bytes()))
            else:
                c.init_position()
        except Exception:  # one broken consumer must not keep the stream down
            log.exception("could not recover consumer in %s", d)
            continue
        stream.consumers[c.name] = c
        attach(c)
        c.start()


STREAM_OPEN_HOOKS.append(recover)
