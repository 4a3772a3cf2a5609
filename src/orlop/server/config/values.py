"""Reading typed values out of a parsed configuration, with nats-server's rules.

Every reader takes the map and the key (so an error names the file and line of
that key: ``where``) and raises ConfigError for a value of the wrong type.
Intervals accept seconds or a Go duration string; sizes an integer or a size string.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.server.config.syntax import ConfMap, parse_text
from orlop.server.options import ServerOptions

__all__ = [
    "Setter",
    "as_bool",
    "as_int",
    "as_seconds",
    "as_str",
    "attr",
    "bad",
    "host_port",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
    "refuse",
    "where",
]

Setter = Callable[[Mapping[str, Any], str, ServerOptions], None]
"""Applies one configuration key (``conf[key]``) to the options."""

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_config(
    text: str, *, base_dir: str = ".", env: Mapping[str, str] | None = None, source: str = "<config>"
) -> dict[str, Any]:
    """Parse configuration text; ``include`` paths are relative to ``base_dir``.

    ``env`` supplies ``$VAR`` values not defined in the text (default: ``os.environ``).
    Returns the top-level map (a :class:`ConfMap`, i.e. a dict that also knows each
    key's file:line). Raises ConfigError("source:line: message").
    """
    return parse_text(text, source=source, base_dir=base_dir, env=os.environ if env is None else env)


def load_config(path: str, *, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read and parse a configuration file. Raises ConfigError when unreadable or invalid."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path!r}: {exc.strerror}") from exc
    return parse_config(text, base_dir=os.path.dirname(os.path.abspath(path)), env=env, source=path)


def parse_duration(value: str) -> float:
    """A Go duration (``"1h30m"``, ``"2.5s"``, ``"-1s"``, ``"0"``) in seconds. Raises ValueError."""
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m:
            raise ValueError(f"invalid duration {value!r}")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not text:
        raise ValueError("empty duration")
    return sign * total


def parse_size(value: str) -> int:
    """A size string with nats-server's suffixes (``"1GB"``, ``"512MiB"``, ``"1k"``). Raises ValueError."""
    try:
        return int(parse_config(f"v: {value.strip()}", env={})["v"])
    except (ConfigError, TypeError) as exc:
        raise ValueError(f"invalid size {value!r}") from exc


def where(conf: Mapping[str, Any], key: str) -> str:
    return conf.where(key) if isinstance(conf, ConfMap) else "config"


def bad(conf: Mapping[str, Any], key: str, expected: str) -> ConfigError:
    value = conf[key]
    return ConfigError(f"{where(conf, key)}: {key}: expected {expected}, got {value!r}")


def as_int(conf: Mapping[str, Any], key: str) -> int:
    value = conf[key]
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str):
            try:
                return parse_size(value)
            except ValueError:
                pass
        raise bad(conf, key, "an integer")
    return value


def as_str(conf: Mapping[str, Any], key: str) -> str:
    value = conf[key]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise bad(conf, key, "a string")
    return str(value)


def as_bool(conf: Mapping[str, Any], key: str) -> bool:
    value = conf[key]
    if not isinstance(value, bool):
        raise bad(conf, key, "true or false")
    return value


def as_seconds(conf: Mapping[str, Any], key: str) -> float:
    value = conf[key]
    if isinstance(value, bool):
        raise bad(conf, key, "a duration")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            pass
    raise bad(conf, key, 'a duration such as "2m" or a number of seconds')


def host_port(conf: Mapping[str, Any], key: str) -> tuple[str, int | None]:
    """``"host:port"``, ``":port"``, ``"host"`` or a bare port number."""
    value = conf[key]
    if isinstance(value, int) and not isinstance(value, bool):
        return "", value
    text = as_str(conf, key)
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, None
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise bad(conf, key, "host:port") from None


def attr(name: str, conv: Callable[[Mapping[str, Any], str], Any]) -> Setter:
    """A setter of the option ``name`` from a value read by ``conv``."""

    def setter(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
        setattr(o, name, conv(conf, key))

    return setter


def refuse(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    """A security setting Orlop does not implement: ignoring it would run a server more open
    than the file asks for, so it is an error."""
    raise ConfigError(
        f"{where(conf, key)}: {key!r} is not supported by Orlop; refusing to start "
        "without the security it configures"
    )
