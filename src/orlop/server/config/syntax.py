"""nats-server's configuration syntax, read into plain Python values.

Why a hand-written recursive-descent reader: the format (nats-server ``conf/lex.go``
and ``conf/parse.go``) is neither JSON, YAML nor TOML; its quirks decide what a
value *is* (``1k`` is 1000 but ``1kb``/``1ki`` are 1024, ``2m`` is two million,
``30s`` is a string, ``127.0.0.1:4222`` is a string, ``yes``/``on`` are booleans),
so we follow those rules exactly, one small function per kind of token.

Supported: ``key: value`` / ``key = value`` / ``key value``; ``{}`` maps (the separator
may be omitted before ``{``); ``[]`` arrays; ``#`` and ``//`` comments; single-quoted
(raw) and double-quoted strings with ``\\t \\n \\r \\" \\\\ \\xHH`` escapes; bare strings;
integers with size suffixes; floats; booleans; Zulu datetimes; ``( ... )`` blocks
(a string ending at a ``)`` alone on a line); ``$VAR`` references (looked up in the
enclosing maps, innermost first, then in the environment, whose value is parsed as
a value); ``include path`` (relative to the including file, merged in place).

Deliberate differences from nats-server: an unknown size suffix such as ``1kbb`` is
an error (nats-server silently drops the key), and ``]`` ends a number (nats-server
reads ``[1, 2]`` as ``[1, "2"]``).

Every map is a :class:`ConfMap` (a ``dict``) that also remembers the line and file
where each key was set, so the option mapper can report ``file:line`` too.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from typing import Any

from orlop.errors import ConfigError

__all__ = ["ConfMap", "parse_text"]

# Size suffixes, exactly nats-server's table: the bare letter is decimal, b/i/ib binary.
_SUFFIXES: dict[str, int] = {}
for _i, _letter in enumerate("kmgtpe", start=1):
    _SUFFIXES[_letter] = 1000**_i
    for _tail in ("b", "i", "ib"):
        _SUFFIXES[_letter + _tail] = 1024**_i

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "\\": "\\"}
_MAX_INCLUDE_DEPTH = 16


class ConfMap(dict[str, Any]):
    """A parsed map; ``where(key)`` is ``"file:line"`` of the key's last assignment."""

    def __init__(self) -> None:
        super().__init__()
        self.locations: dict[str, str] = {}
        self.variables_used: set[str] = set()  # top level only: names resolved as $variables

    def where(self, key: str) -> str:
        return self.locations.get(key, "")


def _is_space(ch: str) -> bool:
    return ch in (" ", "\t")


def _is_nl(ch: str) -> bool:
    return ch in ("\n", "\r")


class _Reader:
    """One file (or string) being read; nested includes get their own reader."""

    def __init__(
        self,
        text: str,
        source: str,
        base_dir: str,
        env: Mapping[str, str],
        scopes: list[ConfMap],
        depth: int,
        used: set[str],
    ) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.source = source
        self.base_dir = base_dir
        self.env = env
        self.scopes = scopes  # enclosing maps, outermost first, for $VAR lookup
        self.depth = depth
        self.used = used  # names resolved as $variables (shared with nested includes)

    # -- characters ------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> str:
        i = self.pos + ahead
        return self.text[i] if i < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
            if ch == "\n":
                self.line += 1
        return ch

    def error(self, message: str, line: int | None = None) -> ConfigError:
        return ConfigError(f"{self.source}:{self.line if line is None else line}: {message}")

    def skip_comment_if_any(self) -> bool:
        """Consume a ``#`` or ``//`` comment up to (not including) the end of line."""
        if self.peek() == "#" or (self.peek() == "/" and self.peek(1) == "/"):
            while self.peek() and not _is_nl(self.peek()):
                self.take()
            return True
        return False

    def skip_blank(self) -> None:
        """Skip spaces, new lines and comments."""
        while True:
            ch = self.peek()
            if ch and ch.isspace():
                self.take()
            elif not self.skip_comment_if_any():
                return

    # -- maps ------------------------------------------------------------------------------
    def read_map_body(self, target: ConfMap, closing: str) -> None:
        """Read ``key value`` entries into ``target`` until ``closing`` ("" = end of input)."""
        while True:
            self.skip_blank()
            ch = self.peek()
            if closing == "" and ch == "{":  # nats-server tolerates braces around the whole file
                self.take()
                continue
            if ch == "":
                if closing:
                    raise self.error("unexpected end of file inside a map (missing '}')")
                return
            if ch == closing or (closing == "" and ch == "}"):
                self.take()
                if closing:
                    return
                continue
            if ch in ",;":
                raise self.error(f"unexpected {ch!r} where a key was expected")
            self.read_entry(target)
            self.read_value_end(closing)

    def read_entry(self, target: ConfMap) -> None:
        line = self.line
        key, quoted = self.read_key()
        if not quoted and key.lower() == "include" and _is_space(self.peek()):
            self.read_include(target)
            return
        while self.peek() and self.peek().isspace():
            self.take()
        if self.peek() in ("=", ":"):
            self.take()
        while _is_space(self.peek()):
            self.take()
        target[key] = self.read_value()
        target.locations[key] = f"{self.source}:{line}"

    def read_key(self) -> tuple[str, bool]:
        quote = self.peek()
        if quote in ("'", '"'):
            self.take()
            start = self.pos
            while self.peek() != quote:
                if self.peek() == "" or _is_nl(self.peek()):
                    raise self.error("unterminated quoted key")
                self.take()
            key = self.text[start : self.pos]
            self.take()
            return key, True
        start = self.pos
        while (ch := self.peek()) and not ch.isspace() and ch not in "=:{[":
            self.take()
        if self.pos == start:
            raise self.error(f"expected a key, got {self.peek()!r}")
        return self.text[start : self.pos], False

    def read_value_end(self, closing: str) -> None:
        """After a value: blanks, an optional comment, then a new line, ``;``, ``,`` or the closer."""
        while _is_space(self.peek()):
            self.take()
        self.skip_comment_if_any()
        ch = self.peek()
        if ch == "" or _is_nl(ch) or ch in ",;":
            if ch:
                self.take()
            return
        if ch == "}":
            return  # the map reader consumes it
        raise self.error(f"expected a new line, ',' or '}}' after a value, got {ch!r}")

    def read_include(self, target: ConfMap) -> None:
        while _is_space(self.peek()):
            self.take()
        line = self.line
        ch = self.peek()
        if ch in ("'", '"'):
            self.take()
            start = self.pos
            while self.peek() != ch:
                if self.peek() == "":
                    raise self.error("unterminated include path")
                self.take()
            name = self.text[start : self.pos]
            self.take()
        else:
            start = self.pos
            while (c := self.peek()) and not c.isspace() and c not in ";}":
                self.take()
            name = self.text[start : self.pos]
        if not name:
            raise self.error("include needs a file name")
        path = os.path.join(self.base_dir, name)
        if self.depth >= _MAX_INCLUDE_DEPTH:
            raise self.error(f"includes nested deeper than {_MAX_INCLUDE_DEPTH} (a cycle?) at {name!r}")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise self.error(f"cannot read include file {name!r}: {exc.strerror}", line) from exc
        sub = _Reader(
            text, path, os.path.dirname(path), self.env, [*self.scopes, target], self.depth + 1, self.used
        )
        included = sub.read_document()
        for key, value in included.items():
            target[key] = value
            target.locations[key] = included.locations[key]

    def read_document(self) -> ConfMap:
        root = ConfMap()
        self.scopes = [*self.scopes, root]
        self.read_map_body(root, "")
        return root

    # -- values ----------------------------------------------------------------------------
    def read_value(self) -> Any:
        ch = self.peek()
        if ch == "" or _is_nl(ch):
            raise self.error("expected a value, found the end of the line")
        if ch == "[":
            return self.read_array()
        if ch == "{":
            self.take()
            inner = ConfMap()
            self.scopes.append(inner)
            try:
                self.read_map_body(inner, "}")
            finally:
                self.scopes.pop()
            return inner
        if ch == "'":
            return self.read_single_quoted()
        if ch == '"':
            return self.read_double_quoted()
        if ch == "(":
            return self.read_block()
        if ch == "-" or ch.isdigit():
            return self.read_number()
        if ch == ".":
            raise self.error("floats must start with a digit")
        return self.read_bare()

    def read_array(self) -> list[Any]:
        self.take()
        items: list[Any] = []
        while True:
            self.skip_blank()
            ch = self.peek()
            if ch == "]":
                self.take()
                return items
            if ch == "":
                raise self.error("unexpected end of file inside an array (missing ']')")
            if ch == ",":
                raise self.error("unexpected ',' in an array")
            items.append(self.read_value())
            while _is_space(self.peek()):
                self.take()
            self.skip_comment_if_any()
            ch = self.peek()
            if ch == "," or _is_nl(ch):
                self.take()
            elif ch != "]":
                raise self.error(f"expected ',' or ']' in an array, got {ch!r}")

    def read_single_quoted(self) -> str:
        self.take()
        start = self.pos
        while self.peek() != "'":
            if self.peek() == "":
                raise self.error("unterminated string")
            self.take()
        value = self.text[start : self.pos]
        self.take()
        return value

    def read_double_quoted(self) -> str:
        self.take()
        parts: list[str] = []
        while (ch := self.take()) != '"':
            if ch == "":
                raise self.error("unterminated string")
            parts.append(self.read_escape() if ch == "\\" else ch)
        return "".join(parts)

    def read_escape(self) -> str:
        ch = self.take()
        if ch in _ESCAPES:
            return _ESCAPES[ch]
        if ch == "x":
            digits = self.take() + self.take()
            try:
                return bytes.fromhex(digits).decode("latin-1")
            except ValueError:
                raise self.error(f"expected two hexadecimal digits after '\\x', got {digits!r}") from None
        raise self.error(f"invalid escape '\\{ch}' (allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\)")

    def read_block(self) -> str:
        """``( ... )``: raw text up to a ``)`` alone on its line."""
        self.take()
        start = self.pos
        while True:
            ch = self.take()
            if ch == "":
                raise self.error("unexpected end of file in a '(' block")
            if ch == "\n" and self.peek() == ")" and self.peek(1) in ("", "\n", "\r"):
                value = self.text[start : self.pos - 1]
                self.take()
                return value

    def _at_number_end(self) -> bool:
        ch = self.peek()
        return ch == "" or _is_nl(ch) or _is_space(ch) or ch in "};,]"

    def read_number(self) -> Any:
        """An integer (maybe with a size suffix), a float, a datetime, an IP:port, or a bare string."""
        start, line = self.pos, self.line
        negative = self.peek() == "-"
        if negative:
            self.take()
            if not self.peek().isdigit():
                raise self.error(f"expected a digit after '-', got {self.peek()!r}")
        while self.peek().isdigit():
            self.take()
        ch = self.peek()
        if ch == "-" and not negative and self.pos - start == 4:
            return self.read_datetime(start)
        if ch == ".":
            return self.read_float_or_ip(start)
        if ch.lower() in "kmgtpe" and ch:
            self.take()
            while self.peek().lower() in ("b", "i") and self.peek():
                self.take()
            if self._at_number_end():
                return self.to_int(self.text[start : self.pos], line)
        elif self._at_number_end():
            return self.to_int(self.text[start : self.pos], line)
        if negative:
            raise self.error(f"expected an integer, got {self.text[start : self.pos + 1]!r}")
        self.pos, self.line = start, line  # "30s", "1h30m", "4222abc": a bare string after all
        return self.read_bare()

    def to_int(self, token: str, line: int) -> int:
        digits_end = len(token.rstrip("kmgtpebiKMGTPEBI"))
        suffix = token[digits_end:].lower()
        value = int(token[:digits_end])
        if suffix:
            if suffix not in _SUFFIXES:
                raise self.error(f"unknown size suffix in {token!r}", line)
            value *= _SUFFIXES[suffix]
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise self.error(f"integer {token!r} is out of range", line)
        return value

    def read_float_or_ip(self, start: int) -> Any:
        self.take()
        if not self.peek().isdigit():
            raise self.error(f"floats need a digit after '.', got {self.peek()!r}")
        while self.peek().isdigit():
            self.take()
        if self.peek() == ".":  # 127.0.0.1 or 127.0.0.1:4222: a string
            while (c := self.peek()) and (c.isdigit() or c in ".:-"):
                self.take()
            return self.text[start : self.pos]
        return float(self.text[start : self.pos])

    def read_datetime(self, start: int) -> datetime.datetime:
        end = start + len("2006-01-02T15:04:05Z")
        token = self.text[start:end]
        try:
            value = datetime.datetime.strptime(token, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise self.error(f"expected a Zulu datetime like 2006-01-02T15:04:05Z, got {token!r}") from None
        while self.pos < end:
            self.take()
        return value.replace(tzinfo=datetime.UTC)

    def read_bare(self) -> Any:
        """An unquoted string: ends at a blank, new line, ``; , ] }`` or end of input."""
        line = self.line
        parts: list[str] = []
        escaped = False
        while (ch := self.peek()) and not (ch.isspace() or ch in ";,]}"):
            self.take()
            if ch == "\\":
                parts.append(self.read_escape())
                escaped = True
            else:
                parts.append(ch)
        word = "".join(parts)
        if escaped:
            return word
        if word.lower() in _BOOLS:
            return _BOOLS[word.lower()]
        if word.startswith("$"):
            return self.lookup(word[1:], line)
        return word

    def lookup(self, name: str, line: int) -> Any:
        """``$name``: the innermost enclosing map defining it, else the environment (parsed)."""
        if name.startswith("2a$"):  # a bcrypt hash, not a variable (as nats-server)
            return "$" + name
        for scope in reversed(self.scopes):
            if name in scope:
                self.used.add(name)
                return scope[name]
        if name in self.env:
            sub = _Reader(f"pk={self.env[name]}", f"${name}", self.base_dir, {}, [], self.depth + 1, set())
            try:
                return sub.read_document()["pk"]
            except (ConfigError, KeyError) as exc:
                raise self.error(
                    f"variable ${name} from the environment could not be parsed: {exc}", line
                ) from None
        raise self.error(f"variable reference ${name} can not be found", line)


def parse_text(text: str, *, source: str, base_dir: str, env: Mapping[str, str]) -> ConfMap:
    """Parse a whole document into its root map (``variables_used`` filled in).

    Raises ConfigError("source:line: message") on the first syntax error.
    """
    used: set[str] = set()
    root = _Reader(text, source, base_dir, env, [], 0, used).read_document()
    root.variables_used = used
    return root
