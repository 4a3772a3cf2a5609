"""The audit trail's pure parts, without sockets: record encoding, derivations, the file, the config.

The derivations are checked against the exact requests of the reference document
(/work/shared/reference/nats-wire-protocol.md §2, §4): what nats-py, nats.go (both
APIs) and nats.js send for each object-store operation.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from orlop.errors import ConfigError
from orlop.server.audit import OPS, Record, encode, may_subscribe
from orlop.server.audit.records import api_op, decode_name, format_time, meta_info, meta_op
from orlop.server.audit.sink import AuditFile
from orlop.server.config.top import options_from_config
from orlop.server.config.values import parse_config
from orlop.server.options import ServerOptions

NUID = "Qm4xV2sTb9ZpL0aW8cE3rY"
ENC = base64.urlsafe_b64encode(b"dir/x.bin").decode()
LAST_META = f'{{"last_by_subj":"$O.b.M.{ENC}"}}'.encode()
WATCH_NEW = b'{"config":{"deliver_policy":"new","filter_subject":"$O.b.M.>"}}'
WATCH_ALL = b'{"config":{"deliver_policy":"all","filter_subject":"$O.b.M.>"}}'


def test_a_record_is_one_json_line_with_the_fixed_keys_in_order() -> None:
    r = Record(
        1_796_291_100_123_456_789, "A", "alice", 5, "127.0.0.1:53422", "b", "dir/x.bin", "put", 123, 45
    )
    line = encode(r, "srv")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert line.decode() == (
        '{"time":"2026-12-03T09:45:00.123456Z","server":"srv","account":"A","user":"alice",'
        '"client_id":5,"client_addr":"127.0.0.1:53422","bucket":"b","object":"dir/x.bin","op":"put",'
        '"bytes":123,"revision":45,"result":"ok","err_code":null,"error":null}\n'
    )
    assert format_time(0) == "1970-01-01T00:00:00.000000Z"
    unicode = encode(Record(0, "A", None, None, None, "b", "é\n", "info"), "s")
    assert json.loads(unicode)["object"] == "é\n"
    assert len(OPS) == 13


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        # bucket operations (all clients)
        ("$JS.API.STREAM.CREATE.OBJ_b", b'{"name":"OBJ_b"}', ("b", "create_bucket", None)),
        ("$JS.API.STREAM.UPDATE.OBJ_b", b'{"name":"OBJ_b","sealed":false}', ("b", "update_bucket", None)),
        ("$JS.API.STREAM.DELETE.OBJ_b", b"", ("b", "delete_bucket", None)),
        ("$JS.API.STREAM.PURGE.OBJ_b", b"", ("b", "purge", None)),
        # info: STREAM.MSG.GET (nats-py, Go legacy, JS) and DIRECT.GET (Go jetstream)
        ("$JS.API.STREAM.MSG.GET.OBJ_b", LAST_META, ("b", "info", "dir/x.bin")),
        (f"$JS.API.DIRECT.GET.OBJ_b.$O.b.M.{ENC}", b"", ("b", "info", "dir/x.bin")),
        # the "is the bucket empty" probe of list and watch is not an operation of its own
        ("$JS.API.STREAM.MSG.GET.OBJ_b", b'{"last_by_subj":"$O.b.M.>"}', None),
        ("$JS.API.DIRECT.GET.OBJ_b.$O.b.M.>", b"", None),
        # list (last_per_subject) and watch (all / new / by_start_sequence)
        (
            "$JS.API.CONSUMER.CREATE.OBJ_b.oc_1.$O.b.M.>",
            b'{"config":{"deliver_policy":"last_per_subject","filter_subject":"$O.b.M.>"}}',
            ("b", "list", None),
        ),
        ("$JS.API.CONSUMER.CREATE.OBJ_b", WATCH_NEW, ("b", "watch", None)),
        ("$JS.API.CONSUMER.CREATE.OBJ_b", WATCH_ALL, ("b", "watch", None)),
        # not object-store traffic
        ("$JS.API.STREAM.CREATE.KV_b", b"{}", None),
        ("$JS.API.STREAM.INFO.OBJ_b", b"", None),
        ("$JS.API.STREAM.NAMES", b'{"subject":"$O.b.C.x"}', None),
        ("$JS.API.CONSUMER.DELETE.OBJ_b.x", b"", None),
    ],
)  # fmt: skip
def test_api_requests_map_to_operations(
    subject: str, body: bytes, expected: tuple[str, str, str | None] | None
) -> None:
    op = api_op(subject, body)
    assert (None if op is None else (op.bucket, op.op, op.object)) == expected


def test_gets_and_chunk_purges_name_the_object_by_its_nuid() -> None:
    for subject, body in [
        # nats-py / nats.deno legacy create, Go's named-and-filtered create, JS v3 (no deliver_policy)
        (
            "$JS.API.CONSUMER.CREATE.OBJ_b",
            {"config": {"deliver_policy": "all", "filter_subject": f"$O.b.C.{NUID}"}},
        ),
        (f"$JS.API.CONSUMER.CREATE.OBJ_b.Xy12.$O.b.C.{NUID}", {"config": {"deliver_policy": "all"}}),
        (
            f"$JS.API.CONSUMER.CREATE.OBJ_b.oc_1_1.$O.b.C.{NUID}",
            {"config": {"filter_subject": f"$O.b.C.{NUID}"}},
        ),
        # orlop.objects' exact chunk fetches
        ("$JS.API.DIRECT.GET.OBJ_b", {"next_by_subj": f"$O.b.C.{NUID}", "seq": 3}),
    ]:
        op = api_op(subject, json.dumps(body).encode())
        assert op is not None and (op.op, op.nuid) == ("get", NUID), subject
    purge = api_op("$JS.API.STREAM.PURGE.OBJ_b", json.dumps({"filter": f"$O.b.C.{NUID}"}).encode())
    assert purge is not None and (purge.op, purge.nuid, purge.whole) == ("purge", NUID, False)
    rename = api_op("$JS.API.STREAM.PURGE.OBJ_b", json.dumps({"filter": f"$O.b.M.{ENC}"}).encode())
    assert rename is not None and (rename.op, rename.object, rename.whole) == ("purge", "dir/x.bin", True)


def test_sealing_is_an_update_asking_for_sealed() -> None:
    op = api_op("$JS.API.STREAM.UPDATE.OBJ_b", b'{"name":"OBJ_b","sealed":true}')
    assert op is not None and op.sealing and op.op == "update_bucket"  # the trail turns it into "seal"


@pytest.mark.parametrize(
    ("meta", "known", "op"),
    [
        ({"name": "x", "nuid": NUID, "size": 5, "chunks": 1}, False, "put"),
        ({"name": "x", "nuid": NUID, "size": 0, "chunks": 0}, False, "put"),  # an empty object
        ({"name": "x", "nuid": NUID, "size": 5, "description": "d"}, True, "update_meta"),
        ({"name": "x", "nuid": NUID, "size": 0, "deleted": True}, True, "delete"),
        (
            {"name": "x", "bucket": "other", "options": {"link": {"bucket": "other", "name": "y"}}},
            False,
            "link",
        ),
        (
            {"name": "x", "nuid": NUID, "options": {"link": {"bucket": "b"}, "max_chunk_size": 131072}},
            False,
            "link",
        ),
    ],
)
def test_meta_publishes_map_to_operations(meta: dict[str, object], known: bool, op: str) -> None:
    assert meta_op(meta_info(json.dumps(meta).encode()), known) == op


def test_names_decode_with_or_without_padding() -> None:
    assert decode_name("YQ==") == decode_name("YQ") == "a"
    assert decode_name("aGVsbG8udHh0") == "hello.txt"
    assert decode_name(">") is None and decode_name("!!") is None
    assert meta_info(b"not json") is None and meta_info(b"[1]") is None


def test_only_the_owning_and_the_system_account_may_subscribe_to_records() -> None:
    assert may_subscribe("A", "SYS", "$SYS.AUDIT.OBJ.A.b")
    assert may_subscribe("A", "SYS", "$SYS.AUDIT.OBJ.A.>")
    assert may_subscribe("A", "SYS", "$SYS.AUDIT.OBJ.>")  # delivered only A's own records
    assert may_subscribe("A", "SYS", "$SYS.AUDIT.OBJ.*.b")
    assert not may_subscribe("C", "SYS", "$SYS.AUDIT.OBJ.A.>")
    assert not may_subscribe("C", "SYS", "$SYS.AUDIT.OBJ.A.b")
    assert may_subscribe("SYS", "SYS", "$SYS.AUDIT.OBJ.A.>")


def test_the_file_rotates_between_lines_and_keeps_max_files(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    f = AuditFile(str(path), max_size=100, max_files=3)
    lines = [f"{i:02d}".encode() * 15 + b"\n" for i in range(10)]  # 31 bytes each: 3 per file
    for line in lines:
        f.write([line])
    f.write(lines[:4])  # a batch that crosses a rotation is split at a line boundary
    f.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.log", "audit.log.1", "audit.log.2"]
    assert path.read_bytes() == lines[2] + lines[3]
    assert (tmp_path / "audit.log.1").read_bytes() == lines[9] + lines[0] + lines[1]
    assert (tmp_path / "audit.log.2").read_bytes() == lines[6] + lines[7] + lines[8]
    big = AuditFile(str(tmp_path / "big.log"), max_size=10, max_files=1)
    big.write([b"x" * 50 + b"\n", b"y\n"])  # a line longer than max_size is written whole
    big.close()
    assert (tmp_path / "big.log").read_bytes() == b"y\n" and not (tmp_path / "big.log.1").exists()


def test_the_file_appends_to_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "a" / "audit.log"
    f = AuditFile(str(path), max_size=0, max_files=5)
    f.write([b"one\n"])
    f.close()
    g = AuditFile(str(path), max_size=0, max_files=5)
    assert g.size == 4
    g.write([b"two\n"])
    fd = g.sync_fd()
    assert fd is not None and g.sync_fd() is None
    g.close()
    assert path.read_bytes() == b"one\ntwo\n"


def _options(text: str) -> ServerOptions:
    return options_from_config(parse_config(text), ServerOptions())


def test_the_config_block_takes_nats_server_sizes() -> None:
    audit = _options('audit { file: "/var/log/orlop/audit.log", max_size: 1MiB, max_files: 3 }').audit
    assert audit is not None and (audit.file, audit.max_size, audit.max_files) == (
        "/var/log/orlop/audit.log",
        1 << 20,
        3,
    )
    default = _options("audit { file: a.log }").audit
    assert default is not None and (default.max_size, default.max_files) == (
        10 << 20,
        5,
    )  # 10MB as nats-server reads it
    assert _options("port: 4222").audit is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("audit { file: a.log, color: red }", r'<config>:1: unknown field "color" parsing audit'),
        ("audit { max_files: 2 }", 'audit needs a "file"'),
        ("audit { file: a.log, max_files: 0 }", "max_files must be at least 1"),
        ("audit { file: a.log, max_size: -1 }", "max_size must not be negative"),
        ("audit: a.log", "audit: expected a map"),
    ],
)
def test_bad_config_blocks_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        _options(text)
