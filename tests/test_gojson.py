"""orlop.gojson: JSON as Go writes strings that hold bytes which are not UTF-8."""

from __future__ import annotations

import json

from orlop import gojson


def test_each_stray_byte_becomes_one_replacement_character() -> None:
    subject = b"a.\xe2\x82.\xff".decode("utf-8", "surrogateescape")  # a cut 3-byte sequence, a lone byte
    text = gojson.dumps({"subject": subject, "list": [subject], subject: 1})
    assert json.loads(text) == {
        "subject": "a.\ufffd\ufffd.\ufffd",
        "list": ["a.\ufffd\ufffd.\ufffd"],
        "a.\ufffd\ufffd.\ufffd": 1,
    }


def test_valid_text_is_left_alone_and_compact() -> None:
    obj = {"name": "caf\u00e9 \U0001f600", "n": [1, 2.5, None, True]}
    assert gojson.dumps(obj) == json.dumps(obj, separators=(",", ":"))
    assert gojson.dumps(obj, indent=2) == json.dumps(obj, indent=2)
