"""``ack_policy: flow_control`` (nats-server 2.14, API level 4), side by side on both servers.

A flow-control-acked consumer is a push consumer with flow control and a 1 s heartbeat
whose flow-control answers acknowledge: an answer carrying ``Nats-Last-Consumer`` and
``Nats-Last-Stream`` acks everything up to that stream sequence (as an ack-all), an
empty answer only reopens the window. The server asks as soon as max_ack_pending is
reached and again with every idle heartbeat while deliveries are unacknowledged; it
never redelivers and serves no ``$JS.ACK`` subject for such a consumer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import pytest
from nats.errors import NoRespondersError

from orlop.testing import ServerProcess

S = 1_000_000_000
FC = "flow_control"


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


async def until(pred: Callable[[], bool], timeout: float = 8.0) -> None:
    """Wait for ``pred`` (a safety timeout only: heartbeats come once a second)."""
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.02)


def create(stream: str, cfg: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"stream_name": stream, "config": cfg, **extra}


def fc(**cfg: Any) -> dict[str, Any]:
    return {"ack_policy": FC, **cfg}


def public_meta(cfg: dict[str, Any]) -> dict[str, Any]:
    """The config without the server's version keys (Orlop and nats-server differ there)."""
    out = dict(cfg)
    out["metadata"] = {k: v for k, v in cfg["metadata"].items() if k not in ("_nats.ver", "_nats.level")}
    return out


# --- configuration -----------------------------------------------------------------------

INVALID_FC_HB = (500, 10052, "flow control ack policy heartbeat needs to be 1s")
REQUIRES_PUSH = (400, 10218, "flow control ack policy requires a push based consumer")
REQUIRES_FC = (400, 10219, "flow control ack policy requires flow control")
REQUIRES_MAP = (400, 10220, "flow control ack policy requires max ack pending")
NO_ACK_WAIT = (400, 10221, "flow control ack policy requires unset ack wait")
NO_MAX_DELIVER = (400, 10222, "flow control ack policy requires unset max deliver")

ERRORS: list[tuple[dict[str, Any], bool, tuple[int, int, str]]] = [
    (fc(), False, REQUIRES_PUSH),
    (fc(ack_wait=5 * S, max_deliver=3), False, REQUIRES_PUSH),
    (fc(flow_control=True, idle_heartbeat=S), False, REQUIRES_PUSH),
    (fc(deliver_subject="d", max_ack_pending=-1), False, REQUIRES_MAP),
    (fc(deliver_subject="d", max_ack_pending=-5), False, REQUIRES_MAP),
    (fc(deliver_subject="d", max_ack_pending=-1, ack_wait=3, max_deliver=2), False, REQUIRES_MAP),
    (fc(deliver_subject="d", ack_wait=5 * S), False, NO_ACK_WAIT),
    (fc(deliver_subject="d", ack_wait=5 * S, max_deliver=2), False, NO_ACK_WAIT),
    (fc(deliver_subject="d", backoff=[S, 2 * S]), False, NO_ACK_WAIT),
    (fc(deliver_subject="d", backoff=[S, 2 * S], max_deliver=1), False, NO_ACK_WAIT),
    (fc(deliver_subject="d", backoff=[0]), False, NO_ACK_WAIT),
    (fc(deliver_subject="d.*", ack_wait=S), False, NO_ACK_WAIT),
    (fc(deliver_subject="d", max_deliver=3), False, NO_MAX_DELIVER),
    (fc(deliver_subject="d", max_deliver=3, description="x" * 5000), False, NO_MAX_DELIVER),
    # checked before the flow-control rules
    (fc(deliver_subject="d", ack_wait=-5), False, (400, 10183, "consumer ack wait needs to be positive")),
    (fc(deliver_subject="d", backoff=[-1]), False, (400, 10184, "consumer backoff needs to be positive")),
    (fc(num_replicas=-1), False, (400, 10133, "replicas count cannot be negative")),
    (
        fc(deliver_subject="d", num_replicas=2),
        False,
        (500, 10074, "replicas > 1 not supported in non-clustered mode"),
    ),
    (
        fc(deliver_subject="d", name="a.b", max_deliver=2),
        False,
        (500, 10052, "consumer name can not contain '.', '*', '>', '\\', '/'"),
    ),
    # and after them
    (fc(deliver_subject="d.*"), False, (400, 10079, "consumer deliver subject has wildcards")),
    (fc(deliver_subject="k.x"), False, (400, 10081, "consumer deliver subject forms a cycle")),
    (
        fc(deliver_subject="d", max_waiting=3),
        False,
        (400, 10080, "consumer in push mode can not set max waiting"),
    ),
    (
        fc(deliver_subject="d", description="x" * 5000),
        False,
        (400, 10107, "consumer description is too long, maximum allowed is 4096"),
    ),
    (
        fc(deliver_subject="d", priority_policy="overflow", priority_groups=["a"]),
        False,
        (400, 10178, "priority groups can not be used with push consumers"),
    ),
    (
        fc(deliver_subject="d", durable_name="DD"),
        False,
        (400, 10020, "consumer expected to be ephemeral but a durable name was set in request"),
    ),
    ({"ack_policy": "flow"}, False, (400, 10025, 'invalid JSON: can not unmarshal "\\"flow\\""')),
    # pedantic: no defaults, so flow control and the 1 s heartbeat must be asked for
    (fc(deliver_subject="d"), True, REQUIRES_FC),
    (fc(deliver_subject="d", flow_control=True), True, INVALID_FC_HB),
    (fc(deliver_subject="d", flow_control=True, idle_heartbeat=2 * S), True, INVALID_FC_HB),
    (fc(flow_control=True, idle_heartbeat=S), True, REQUIRES_PUSH),
    (fc(deliver_subject="d", flow_control=True, idle_heartbeat=S, ack_wait=S), True, NO_ACK_WAIT),
    (
        fc(deliver_subject="d", max_deliver=-3),
        True,
        (400, 10157, "pedantic mode: max_deliver must be set to -1"),
    ),
]


async def test_config_errors(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await nc.jetstream().add_stream(name="K", subjects=["k.>"], storage="memory")
        got = []
        for cfg, pedantic, _ in ERRORS:
            body = create("K", cfg, **({"pedantic": True} if pedantic else {}))
            err = (await api(nc, "CONSUMER.CREATE.K", body)).get("error") or {}
            got.append((err.get("code"), err.get("err_code"), err.get("description")))
        assert got == [want for _, _, want in ERRORS]
        assert (await api(nc, "CONSUMER.NAMES.K", {}))["consumers"] == []
    finally:
        await nc.close()


def echoed(**extra: Any) -> dict[str, Any]:
    """What both servers echo for a minimal flow-control consumer on ``d``."""
    cfg: dict[str, Any] = {
        "deliver_policy": "all",
        "ack_policy": FC,
        "max_deliver": -1,
        "replay_policy": "instant",
        "max_ack_pending": 1000,
        "flow_control": True,
        "deliver_subject": "d",
        "idle_heartbeat": S,
        "inactive_threshold": 5 * S,
        "num_replicas": 0,
        "metadata": {"_nats.req.level": "4"},
    }
    cfg.update(extra)
    order = [
        "durable_name",
        "name",
        "deliver_policy",
        "ack_policy",
        "max_deliver",
        "replay_policy",
        "max_ack_pending",
        "flow_control",
        "headers_only",
        "deliver_subject",
        "deliver_group",
        "idle_heartbeat",
        "inactive_threshold",
        "num_replicas",
        "metadata",
        "pause_until",
    ]
    return {k: cfg[k] for k in order if k in cfg}


async def test_created_config_and_api_level(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await nc.jetstream().add_stream(name="K", subjects=["k.>"], storage="memory")
        cases: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
            (fc(deliver_subject="d"), echoed(), False),
            # flow control and the 1 s heartbeat are imposed, whatever was asked
            (fc(deliver_subject="d", flow_control=False, idle_heartbeat=5 * S), echoed(), False),
            (fc(deliver_subject="d", idle_heartbeat=50_000_000), echoed(), False),
            (fc(deliver_subject="d", max_deliver=-3, max_ack_pending=7), echoed(max_ack_pending=7), False),
            (
                fc(deliver_subject="d", deliver_group="g", headers_only=True),
                echoed(deliver_group="g", headers_only=True),
                False,
            ),
            (fc(deliver_subject="d", flow_control=True, idle_heartbeat=S), echoed(), True),
            (
                fc(deliver_subject="d", pause_until="2099-01-01T00:00:00Z"),
                echoed(pause_until="2099-01-01T00:00:00Z"),
                False,
            ),
        ]
        for cfg, want, pedantic in cases:
            body = create("K", cfg, **({"pedantic": True} if pedantic else {}))
            ci = await api(nc, "CONSUMER.CREATE.K", body)
            assert "error" not in ci, (cfg, ci)
            got = public_meta(ci["config"])
            assert list(got) == list(want) and got == want, cfg
            assert ci["config"]["metadata"]["_nats.req.level"] == "4"
            await api(nc, f"CONSUMER.DELETE.K.{ci['name']}")

        ci = await api(nc, "CONSUMER.CREATE.K.F", create("K", fc(durable_name="F", deliver_subject="d")))
        durable = echoed(durable_name="F", name="F")
        del durable["inactive_threshold"]  # durable: no inactivity reaping
        assert public_meta(ci["config"]) == durable
        listed = (await api(nc, "CONSUMER.LIST.K", {}))["consumers"][0]["config"]["metadata"]
        assert listed == {"_nats.req.level": "4"}
        paused = await api(nc, "CONSUMER.PAUSE.K.F", {"pause_until": "2099-01-01T00:00:00Z"})
        assert paused["paused"] is True
        info = await api(nc, "CONSUMER.INFO.K.F")
        assert info["config"]["metadata"]["_nats.req.level"] == "4"
        await api(nc, "CONSUMER.PAUSE.K.F", {})
        info = await api(nc, "CONSUMER.INFO.K.F")
        assert info["config"]["metadata"]["_nats.req.level"] == "4"
    finally:
        await nc.close()


async def test_update_rules(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await nc.jetstream().add_stream(name="K", subjects=["k.>"], storage="memory")
        base = fc(durable_name="U", deliver_subject="du")
        assert "error" not in await api(nc, "CONSUMER.CREATE.K.U", create("K", base))

        async def update(**change: Any) -> Any:
            r = await api(nc, "CONSUMER.CREATE.K.U", create("K", {**base, **change}, action="update"))
            if "error" in r:
                return r["error"]["err_code"], r["error"]["description"]
            return {
                k: r["config"].get(k)
                for k in ("max_ack_pending", "flow_control", "idle_heartbeat", "description")
            }

        assert await update(max_ack_pending=5) == {
            "max_ack_pending": 5,
            "flow_control": True,
            "idle_heartbeat": S,
            "description": None,
        }
        # the imposed values make these no changes at all
        assert (await update(idle_heartbeat=5 * S))["idle_heartbeat"] == S
        assert (await update(flow_control=False))["flow_control"] is True
        assert (await update(description="x"))["description"] == "x"
        assert await update(ack_wait=5) == NO_ACK_WAIT[1:]
        assert await update(max_deliver=3) == NO_MAX_DELIVER[1:]
        assert await update(max_ack_pending=-1) == REQUIRES_MAP[1:]
        assert await update(deliver_subject="") == REQUIRES_PUSH[1:]
        assert await update(ack_policy="explicit") == (10012, "ack policy can not be updated")

        for name, cfg in [
            ("E", {"deliver_subject": "de", "ack_policy": "explicit"}),
            (
                "E2",
                {
                    "deliver_subject": "de2",
                    "ack_policy": "explicit",
                    "flow_control": True,
                    "idle_heartbeat": S,
                },
            ),
        ]:
            cfg = {"durable_name": name, **cfg}
            assert "error" not in await api(nc, f"CONSUMER.CREATE.K.{name}", create("K", cfg))
            r = await api(nc, f"CONSUMER.CREATE.K.{name}", create("K", {**cfg, "ack_policy": FC}))
            assert (
                r["error"]["err_code"] == 10012
                and r["error"]["description"] == "ack policy can not be updated"
            )
    finally:
        await nc.close()


# --- delivery and acknowledgement --------------------------------------------------------

Event = tuple[Any, ...]
Answer = Callable[[Any, str, dict[str, str]], Awaitable[None]]


def last_headers(last: dict[str, str]) -> dict[str, str]:
    return {"Nats-Last-Consumer": last["d"], "Nats-Last-Stream": last["s"]}


async def answer_last(nc: Any, reply: str, last: dict[str, str]) -> None:
    """What a sourcing stream answers: the last consumer and stream sequences it got."""
    await nc.publish(reply, b"", headers=last_headers(last))


def fixed(**hdrs: str) -> Answer:
    async def answer(nc: Any, reply: str, last: dict[str, str]) -> None:
        await nc.publish(reply, b"", headers=hdrs or None)

    return answer


class Recorder:
    """Subscribes to a deliver subject and keeps what arrives as compact events:
    ``("m", sseq, dseq)``, ``("fc",)`` and ``("hb", last_consumer, last_stream, stalled)``.
    """

    def __init__(self, nc: Any, name: str, answer: Answer | None, stream: str = "K") -> None:
        self.nc, self.name, self.answer, self.stream = nc, name, answer, stream
        self.events: list[Event] = []
        self.msgs: list[Any] = []
        self.fc_subjects: list[str] = []
        self.last: dict[str, str] = {}

    async def start(self) -> None:
        await self.nc.subscribe("d" + self.name, cb=self.on_msg)

    async def on_msg(self, m: Any) -> None:
        h = m.headers or {}
        if h.get("Status") == "100" and h.get("Description") == "FlowControl Request":
            assert m.reply.startswith(f"$JS.FC.{self.stream}.{self.name}.") and not m.data
            self.events.append(("fc",))
            self.fc_subjects.append(m.reply)
            if self.answer is not None:
                await self.answer(self.nc, m.reply, self.last)
        elif h.get("Status") == "100":
            assert h.get("Description") == "Idle Heartbeat" and not m.reply
            stalled = h.get("Nats-Consumer-Stalled")
            if stalled is not None:
                stalled = "outstanding" if stalled == self.fc_subjects[-1] else stalled
            self.events.append(("hb", h["Nats-Last-Consumer"], h["Nats-Last-Stream"], stalled))
        else:
            toks = m.reply.split(".")
            assert toks[:4] == ["$JS", "ACK", self.stream, self.name] and toks[4] == "1"
            self.last = {"s": toks[5], "d": toks[6]}
            self.msgs.append(m)
            self.events.append(("m", int(toks[5]), int(toks[6])))

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e[0] == kind)


def msgs(*pairs: tuple[int, int]) -> list[Event]:
    return [("m", s, d) for s, d in pairs]


def run(a: int, b: int) -> list[Event]:
    return msgs(*((i, i) for i in range(a, b + 1)))


def short(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "delivered": (info["delivered"]["consumer_seq"], info["delivered"]["stream_seq"]),
        "ack_floor": (info["ack_floor"]["consumer_seq"], info["ack_floor"]["stream_seq"]),
        "ack_active": "last_active" in info["ack_floor"],
        "num_ack_pending": info["num_ack_pending"],
        "num_redelivered": info["num_redelivered"],
        "num_pending": info["num_pending"],
    }


def state(
    delivered: tuple[int, int], floor: tuple[int, int], active: bool, nap: int, np: int
) -> dict[str, Any]:
    return {
        "delivered": delivered,
        "ack_floor": floor,
        "ack_active": active,
        "num_ack_pending": nap,
        "num_redelivered": 0,
        "num_pending": np,
    }


HB4 = ("hb", "4", "4", None)
STALLED4 = ("hb", "4", "4", "outstanding")

# name, max_ack_pending, filter, answer, wait condition (kind, count), expected first events, state
SCENARIOS: list[tuple[str, int, str, Answer | None, tuple[str, int], list[Event], dict[str, Any]]] = [
    (
        # answered with the last sequences: everything is acknowledged
        "HD",
        4,
        "",
        answer_last,
        ("hb", 2),
        [*run(1, 4), ("fc",), *run(5, 8), ("fc",), *run(9, 10), ("hb", "10", "10", None), ("fc",)],
        state((10, 10), (10, 10), True, 0, 0),
    ),
    (
        # never answered: stalled at max_ack_pending, no new request, no redelivery
        "NA",
        4,
        "",
        None,
        ("hb", 2),
        [*run(1, 4), ("fc",), STALLED4, STALLED4],
        state((4, 4), (0, 0), False, 4, 6),
    ),
    (
        # answered empty: the window reopens but nothing is acked, so it asks again each heartbeat
        "EM",
        4,
        "",
        fixed(),
        ("fc", 3),
        [*run(1, 4), ("fc",), HB4, ("fc",), HB4, ("fc",)],
        state((4, 4), (0, 0), False, 4, 6),
    ),
    (
        # a partial ack, then answers at or below the ack floor are ignored
        "PA",
        4,
        "",
        fixed(**{"Nats-Last-Consumer": "2", "Nats-Last-Stream": "2"}),
        ("fc", 4),
        [*run(1, 4), ("fc",), *run(5, 6), ("fc",), ("hb", "6", "6", None), ("fc",)],
        state((6, 6), (2, 2), True, 4, 4),
    ),
    (
        # a stream sequence past what was delivered drops all pending, the floor stays put
        "BY",
        4,
        "",
        fixed(**{"Nats-Last-Consumer": "3", "Nats-Last-Stream": "9"}),
        ("fc", 4),
        [*run(1, 4), ("fc",), *run(5, 8), ("fc",), ("hb", "8", "8", None), ("fc",)],
        state((8, 8), (0, 0), True, 4, 2),
    ),
    (
        # without a consumer sequence the answer is not above the floor: no ack
        "SO",
        4,
        "",
        fixed(**{"Nats-Last-Stream": "3"}),
        ("fc", 3),
        [*run(1, 4), ("fc",), HB4, ("fc",), HB4, ("fc",)],
        state((4, 4), (0, 0), False, 4, 6),
    ),
    (
        # a filtered consumer: consumer and stream sequences differ
        "FI",
        3,
        "k.a",
        answer_last,
        ("hb", 2),
        [
            *msgs((1, 1), (2, 2), (4, 3)),
            ("fc",),
            *msgs((5, 4), (7, 5), (8, 6)),
            ("fc",),
            *msgs((10, 7)),
            ("hb", "7", "10", None),
            ("fc",),
        ],
        state((7, 10), (7, 10), True, 0, 0),
    ),
]


async def test_flow_control_answers_acknowledge(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="K", subjects=["k.>"], storage="memory")
        for i in range(1, 11):
            await js.publish("k.b" if i % 3 == 0 else "k.a", b"%d" % i)
        recorders = []
        for name, mack, filt, answer, _, _, _ in SCENARIOS:
            rec = Recorder(nc, name, answer)
            await rec.start()
            cfg = fc(name=name, deliver_subject="d" + name, max_ack_pending=mack)
            if filt:
                cfg["filter_subject"] = filt
            ci = await api(nc, "CONSUMER.CREATE.K", create("K", cfg))
            assert "error" not in ci, ci
            recorders.append(rec)
        for rec, (_, _, _, _, (kind, n), _, _) in zip(recorders, SCENARIOS, strict=True):
            await until(lambda rec=rec, kind=kind, n=n: rec.count(kind) >= n)
        for rec, (name, _, _, _, _, want, want_state) in zip(recorders, SCENARIOS, strict=True):
            assert rec.events[: len(want)] == want, name
            assert short(await api(nc, f"CONSUMER.INFO.K.{name}")) == want_state, name
            assert [m.data for m in rec.msgs] == [b"%d" % e[1] for e in rec.events if e[0] == "m"]
    finally:
        await nc.close()


async def test_no_ack_subject_and_workqueue_removal(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="K", subjects=["k.>"], storage="memory")
        for i in range(1, 6):
            await js.publish("k.a", b"%d" % i)
        rec = Recorder(nc, "NA", None)
        await rec.start()
        await api(
            nc, "CONSUMER.CREATE.K", create("K", fc(name="NA", deliver_subject="dNA", max_ack_pending=2))
        )
        await until(lambda: rec.count("fc") == 1)
        # nobody serves the ack subject of a flow-control-acked consumer
        with pytest.raises(NoRespondersError):
            await nc.request(rec.msgs[0].reply, b"+ACK", timeout=2)
        for m in rec.msgs:
            await nc.publish(m.reply, b"+ACK")
        info = await api(nc, "CONSUMER.INFO.K.NA")
        assert short(info) == state((2, 2), (0, 0), False, 2, 3)

        # a work-queue stream takes such a consumer; its answers remove what they ack
        await js.add_stream(name="W", subjects=["w.>"], retention="workqueue", storage="memory")
        for i in range(1, 5):
            await js.publish("w.x", b"%d" % i)
        wq = Recorder(nc, "WQ", answer_last, stream="W")
        await wq.start()
        ci = await api(
            nc, "CONSUMER.CREATE.W", create("W", fc(name="WQ", deliver_subject="dWQ", max_ack_pending=2))
        )
        assert ci["config"]["ack_policy"] == FC
        await until(lambda: wq.count("fc") == 2)
        await until(lambda: wq.count("m") == 4)
        info = await api(nc, "CONSUMER.INFO.W.WQ")
        assert short(info) == state((4, 4), (4, 4), True, 0, 0)
        st = (await api(nc, "STREAM.INFO.W"))["state"]
        assert (st["messages"], st["first_seq"]) == (0, 5)
    finally:
        await nc.close()


async def test_reset_restarts_from_the_ack_floor(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="K", subjects=["k.>"], storage="memory")
        for i in range(1, 11):
            await js.publish("k.a", b"%d" % i)
        answers = {"d": "2", "s": "2"}

        async def answer(nc: Any, reply: str, last: dict[str, str]) -> None:
            await nc.publish(reply, b"", headers=last_headers(answers))

        rec = Recorder(nc, "R", answer)
        await rec.start()
        await api(nc, "CONSUMER.CREATE.K", create("K", fc(name="R", deliver_subject="dR", max_ack_pending=4)))
        await until(lambda: rec.count("fc") == 2)
        assert short(await api(nc, "CONSUMER.INFO.K.R")) == state((6, 6), (2, 2), True, 4, 4)
        answers.update(d="1", s="3")
        rec.events.clear()
        reset = await api(nc, "CONSUMER.RESET.K.R", {})
        assert reset["reset_seq"] == 3
        assert short(reset) == state((0, 2), (0, 2), False, 0, 8)
        assert "last_active" not in reset["delivered"]
        await until(lambda: rec.count("fc") == 2)
        want = [*msgs((3, 1), (4, 2), (5, 3), (6, 4)), ("fc",), *msgs((7, 5)), ("fc",)]
        assert rec.events[: len(want)] == want  # (a heartbeat may follow)
        assert short(await api(nc, "CONSUMER.INFO.K.R")) == state((5, 7), (1, 3), True, 4, 3)
    finally:
        await nc.close()


async def test_durable_pending_survives_a_restart(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="F", subjects=["f.>"])
        for i in range(1, 11):
            await js.publish("f.x", b"%d" % i)
        got: list[Any] = []

        async def cb(m: Any) -> None:
            got.append(m)

        await nc.subscribe("dR", cb=cb)
        cfg = fc(durable_name="R", deliver_subject="dR", max_ack_pending=4)
        await api(nc, "CONSUMER.CREATE.F.R", create("F", cfg))
        await until(lambda: len(got) == 5)  # four messages and a flow-control request
    finally:
        await nc.close()
    server.restart()
    nc = await nats.connect(server.url)
    try:
        before = await api(nc, "CONSUMER.INFO.F.R")
        assert (before["delivered"]["stream_seq"], before["num_ack_pending"], before["num_pending"]) == (
            4,
            4,
            6,
        )
        rec = Recorder(nc, "R", fixed(**{"Nats-Last-Consumer": "4", "Nats-Last-Stream": "4"}), stream="F")
        await rec.start()
        # nothing is redelivered: the next heartbeat asks for acks, the answer lets delivery go on
        await until(lambda: rec.count("fc") == 2)
        want = [("hb", "4", "4", None), ("fc",), *run(5, 8), ("fc",)]
        assert rec.events[: len(want)] == want
        assert short(await api(nc, "CONSUMER.INFO.F.R")) == state((8, 8), (4, 4), True, 4, 2)
    finally:
        await nc.close()


@pytest.mark.parametrize("retention", ["limits", "workqueue"])
async def test_removed_pending_message_acks_up_to_it(server: ServerProcess, retention: str) -> None:
    """A pending message deleted from the stream is acked as an ack-all would ack it."""
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="K", subjects=["k.>"], storage="memory", retention=retention)
        for i in range(1, 11):
            await js.publish("k.a", b"%d" % i)
        rec = Recorder(nc, "R", None)
        await rec.start()
        await api(nc, "CONSUMER.CREATE.K", create("K", fc(name="R", deliver_subject="dR", max_ack_pending=4)))
        await until(lambda: rec.count("fc") == 1)
        assert (await api(nc, "STREAM.MSG.DELETE.K", {"seq": 3}))["success"] is True
        # the floor moves to 3, so three more go out (the first request is still unanswered)
        await until(lambda: rec.count("m") == 7)
        want = [*run(1, 4), ("fc",), *run(5, 7)]
        assert rec.events[: len(want)] == want
        assert short(await api(nc, "CONSUMER.INFO.K.R")) == state((7, 7), (3, 3), True, 4, 3)
        st = (await api(nc, "STREAM.INFO.K"))["state"]
        want = (9, 1) if retention == "limits" else (7, 4)  # a work queue drops what was acked
        assert (st["messages"], st["first_seq"]) == want
    finally:
        await nc.close()
