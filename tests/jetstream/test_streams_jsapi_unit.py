"""Unit tests (no sockets) for the pure pieces: the error table, request schemas, config normalisation,
TTL parsing, JSON encoding and the public exports."""

from __future__ import annotations

import importlib

import pytest

from orlop.errors import JetStreamError
from orlop.jsapi import errors as jserrors
from orlop.jsapi.errors import BY_ERR_CODE, Err, ErrorSpec, js_error
from orlop.jsapi.schema import Schema, check
from orlop.jsapi.stream_config import check_update, configs_equal, normalise, with_server_metadata
from orlop.server.jetstream.api import GoNumber, decode_body, encode
from orlop.server.jetstream.ttl import format_ttl, parse_go_duration, parse_ttl


def test_error_table_is_consistent() -> None:
    specs = [v for k, v in vars(Err).items() if isinstance(v, ErrorSpec)]
    codes = [s.err_code for s in specs]
    assert len(codes) == len(set(codes)), "duplicate err_code"
    assert len(BY_ERR_CODE) == len(specs) > 190
    assert all(s.code in (400, 404, 409, 412, 429, 500, 503) for s in specs)
    # The ones clients compare verbatim.
    assert BY_ERR_CODE[10059] == ErrorSpec(404, 10059, "stream not found")
    assert BY_ERR_CODE[10014] == ErrorSpec(404, 10014, "consumer not found")
    assert BY_ERR_CODE[10037].description == "no message found"
    assert BY_ERR_CODE[10148].description == "consumer already exists"


def test_js_error_fills_placeholders() -> None:
    e = js_error(Err.STREAM_WRONG_LAST_SEQUENCE, seq=42)
    assert isinstance(e, JetStreamError)
    assert e.to_dict() == {"code": 400, "err_code": 10071, "description": "wrong last sequence: 42"}
    assert js_error(Err.INVALID_JSON, err="x {y}").description == "invalid JSON: x {y}"
    assert js_error(Err.CONSUMER_NAME_TOO_LONG).description.endswith("{max}")


def test_schema_messages() -> None:
    schema = Schema(
        "Req", {"n": "int64", "u": "uint64", "b": "bool", "s": "[]string", "m": "map[string]string"}
    )
    check({"n": 1, "u": 0, "b": True, "s": ["a"], "m": {"k": "v"}}, schema)
    cases = {
        '{"zz":1}': 'json: unknown field "zz"',
        '{"n":"1"}': "json: cannot unmarshal string into Go struct field Req.n of type int64",
        '{"n":1.5}': "json: cannot unmarshal number 1.5 into Go struct field Req.n of type int64",
        '{"u":-1}': "json: cannot unmarshal number -1 into Go struct field Req.u of type uint64",
        '{"b":0}': "json: cannot unmarshal number into Go struct field Req.b of type bool",
        '{"s":"a"}': "json: cannot unmarshal string into Go struct field Req.s of type []string",
        '{"m":{"k":2}}': "json: cannot unmarshal number into Go struct field Req.m.k of type string",
    }
    for body, text in cases.items():
        with pytest.raises(JetStreamError) as exc:
            check(decode_body(body.encode(), "Req"), schema)
        assert exc.value.description == "invalid JSON: " + text, body
    check(decode_body(b'{"zz":1}'), schema, strict=False)


def test_decode_body_edge_cases() -> None:
    assert decode_body(b"") == {} and decode_body(b"  null ") == {}
    assert isinstance(decode_body(b'{"a":1e3}')["a"], GoNumber)
    with pytest.raises(JetStreamError) as exc:
        decode_body(b"[1]", "T")
    assert (
        exc.value.description == "invalid JSON: json: cannot unmarshal array into Go value of type server.T"
    )
    with pytest.raises(JetStreamError) as exc:
        decode_body(b'{"a":')
    assert exc.value.description == "invalid JSON: unexpected end of JSON input"


def test_encode_is_compact_with_go_escapes() -> None:
    assert encode({"a": ["x.>", "<&>"], "b": 1}) == b'{"a":["x.\\u003e","\\u003c\\u0026\\u003e"],"b":1}'


def test_normalise_defaults_and_order() -> None:
    cfg = normalise({"name": "S", "max_age": 60_000_000_000, "storage": "MEMORY"})
    assert list(cfg)[:4] == ["name", "subjects", "retention", "max_consumers"]
    assert cfg["subjects"] == ["S"] and cfg["storage"] == "memory"
    assert cfg["duplicate_window"] == 60_000_000_000 and cfg["max_msgs"] == -1
    assert "description" not in cfg and "no_ack" not in cfg
    marker = normalise({"name": "S", "subject_delete_marker_ttl": 1_000_000_000, "deny_purge": True})
    assert marker["allow_msg_ttl"] and marker["allow_rollup_hdrs"] and not marker["deny_purge"]


def test_update_and_metadata_rules() -> None:
    old = with_server_metadata(normalise({"name": "S", "metadata": {"a": "1"}}), "2.11.0", 1)
    assert old["metadata"] == {"_nats.level": "1", "_nats.req.level": "0", "_nats.ver": "2.11.0", "a": "1"}
    assert configs_equal(old, normalise({"name": "S", "metadata": {"a": "1"}}))
    sealed = check_update(old, normalise({"name": "S", "sealed": True, "max_age": 10**12}))
    assert sealed["sealed"] and sealed["deny_delete"] and sealed["deny_purge"] and sealed["max_age"] == 0
    with pytest.raises(JetStreamError) as exc:
        check_update(sealed, normalise({"name": "S"}))
    assert exc.value.description == "stream configuration update can not unseal a sealed stream"


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        ("never", -1),
        ("1s", 10**9),
        ("90", 90 * 10**9),
        ("1m30s", 90 * 10**9),
        ("1.5s", 10**9),
        ("+5s", 5 * 10**9),
    ],
)
def test_ttl_values(value: str, ns: int) -> None:
    assert parse_ttl(value) == ns


@pytest.mark.parametrize("value", ["0.5s", "abc", "-3", "", "1x", "0", "0s", "5S", "1e3"])
def test_ttl_invalid(value: str) -> None:
    with pytest.raises(ValueError):
        parse_ttl(value)


def test_go_durations() -> None:
    assert parse_go_duration("1h2m3.5s") == (3723 * 10**9) + 5 * 10**8
    assert parse_go_duration("250ms") == 250_000_000
    assert [format_ttl(n * 10**9) for n in (1, 60, 61, 3600)] == ["1s", "1m0s", "1m1s", "1h0m0s"]


@pytest.mark.parametrize("module", ["orlop.jsapi", "orlop.server.jetstream", "orlop.jsapi.errors"])
def test_public_exports(module: str) -> None:
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert hasattr(mod, name), name
    assert jserrors.__all__ == sorted(jserrors.__all__)


def test_subject_transform() -> None:
    from orlop.jsapi.subject_transform import SubjectTransform

    t = SubjectTransform("a.*.b.*", "x.$2.{{ wildcard(1) }}")
    assert t.apply("a.1.b.2") == "x.2.1"
    assert t.apply("a.1.c.2") is None
    assert SubjectTransform("", "pre.>").apply("q.r") == "pre.q.r"
    assert SubjectTransform("s.>", "t.>").apply("s.u.v") == "t.u.v"
    bad = (("a.*", "b.*"), ("a.*", "b.$2"), ("a.*", "b.>"), ("a.>", "{{partition(3,1)}}"), ("a", ""))
    for src, dest in bad:
        with pytest.raises(ValueError):
            SubjectTransform(src, dest)
