"""Decode API request bodies the way nats-server's Go ``encoding/json`` does.

nats-server 2.12+ decodes requests strictly (``DisallowUnknownFields``) and its
error texts reach clients verbatim inside a 10025 ``invalid JSON: ...`` error.
A :class:`Schema` names the Go request type and the Go type of each JSON key;
:func:`check` walks a decoded body and raises the first error in the same
words Go would use::

    json: unknown field "replicas"
    json: cannot unmarshal string into Go struct field StreamConfigRequest.max_msgs of type int64

Enum-like fields (``storage``, ``retention``...) take a validator that returns
the error text of the custom Go unmarshaller. Values are not converted; a
``null`` is accepted for any field (Go leaves the zero value).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from orlop.jsapi.errors import Err, js_error

__all__ = ["Enum", "Schema", "check"]

_INT_RANGES: dict[str, tuple[int, int]] = {
    "int": (-(2**63), 2**63 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint64": (0, 2**64 - 1),
    "uint16": (0, 2**16 - 1),
    "uint8": (0, 255),
    "time.Duration": (-(2**63), 2**63 - 1),
}


@dataclass(frozen=True, slots=True)
class Enum:
    """A string field with a custom Go unmarshaller: ``error(value)`` returns its error text or None."""

    go_type: str
    error: Callable[[Any], str | None]


FieldType = Union[str, Enum, "Schema"]


@dataclass(frozen=True, slots=True)
class Schema:
    """A Go struct: its name (for messages) and ``{json_key: type}``.

    Types are Go type names (``"string"``, ``"bool"``, ``"int64"``, ``"[]string"``,
    ``"map[string]string"``, ``"any"``), an :class:`Enum`, or a nested Schema.
    ``lenient`` skips the unknown-field check (for objects nats-server decodes loosely).
    """

    name: str
    fields: Mapping[str, FieldType] = field(default_factory=dict)
    lenient: bool = False


def check(body: Mapping[str, Any], schema: Schema, *, strict: bool = True) -> None:
    """Raise JetStreamError 10025 with Go's text for the first problem in ``body``."""
    err = _check_struct(body, schema, schema.name, strict)
    if err:
        raise js_error(Err.INVALID_JSON, err=err)


def _check_struct(body: Mapping[str, Any], schema: Schema, path: str, strict: bool) -> str | None:
    for key, value in body.items():
        ftype = schema.fields.get(key)
        if ftype is None:
            if strict and not schema.lenient:
                return f'json: unknown field "{key}"'
            continue
        if value is None:
            continue
        err = _check_value(value, ftype, f"{path}.{key}", strict)
        if err:
            return err
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _mismatch(value: Any, path: str, go_type: str) -> str:
    kind = _kind(value)
    if kind == "number":
        kind = f"number {_go_number(value)}" if go_type in _INT_RANGES else "number"
    return f"json: cannot unmarshal {kind} into Go struct field {path} of type {go_type}"


def _go_number(value: int | float) -> str:
    literal = getattr(value, "literal", None)
    if isinstance(literal, str):
        return literal
    return repr(value) if isinstance(value, float) else str(value)


def _check_value(value: Any, ftype: FieldType, path: str, strict: bool) -> str | None:
    if isinstance(ftype, Schema):
        if not isinstance(value, dict):
            return _mismatch(value, path, ftype.name)
        return _check_struct(value, ftype, path, strict)
    if isinstance(ftype, Enum):
        return ftype.error(value)
    if ftype == "any":
        return None
    if ftype in _INT_RANGES:
        lo, hi = _INT_RANGES[ftype]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _mismatch(value, path, ftype)
        if isinstance(value, float):  # Go never decodes a fraction/exponent literal into an int
            return _mismatch(value, path, ftype)
        if not lo <= int(value) <= hi:
            return _mismatch(value, path, ftype)
        return None
    if ftype in ("string", "bool", "float64"):
        want = {"string": "string", "bool": "bool", "float64": "number"}[ftype]
        return None if _kind(value) == want else _mismatch(value, path, ftype)
    if ftype.startswith("[]"):
        if not isinstance(value, list):
            return _mismatch(value, path, ftype)
        inner = ftype[2:]
        for item in value:
            if item is not None and (err := _check_value(item, inner, path, strict)):
                return err
        return None
    if ftype.startswith("map[string]"):
        if not isinstance(value, dict):
            return _mismatch(value, path, ftype)
        inner = ftype[len("map[string]") :]
        for k, item in value.items():
            if item is not None and (err := _check_value(item, inner, f"{path}.{k}", strict)):
                return err
        return None
    raise ValueError(f"unknown schema type {ftype!r}")
