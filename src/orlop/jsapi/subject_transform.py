"""Subject transforms as stream ``republish`` uses them (nats-server's subject mapping, the common part).

A transform maps subjects matching ``src`` to ``dest``. Destination tokens are
literals, ``{{wildcard(n)}}`` or ``$n`` (the n-th ``*`` of ``src``), or a final
``>`` (what ``src``'s final ``>`` matched). A ``*`` in ``dest`` and the other
mapping functions (partition, split, ...) are refused, as nats-server refuses
what it cannot map.
"""

from __future__ import annotations

import re

from orlop.subjects import is_valid_subject, matches

__all__ = ["SubjectTransform"]

_WILDCARD_FN = re.compile(r"\{\{\s*wildcard\s*\(\s*(\d+)\s*\)\s*\}\}")
_DOLLAR = re.compile(r"\$(\d+)")


class SubjectTransform:
    """A compiled ``src`` -> ``dest`` mapping. Raises ValueError when it cannot be built."""

    __slots__ = ("dest", "parts", "src", "src_len", "stars")

    def __init__(self, src: str, dest: str) -> None:
        src = src or ">"
        if not is_valid_subject(src) or not dest:
            raise ValueError("invalid transform")
        self.src, self.dest = src, dest
        src_toks = src.split(".")
        self.src_len = len(src_toks)
        self.stars = [i for i, t in enumerate(src_toks) if t == "*"]
        tail = src_toks[-1] == ">"
        # Each part: ("lit", token) | ("star", index into the subject) | ("rest", "")
        self.parts: list[tuple[str, str | int]] = []
        dest_toks = dest.split(".")
        for i, tok in enumerate(dest_toks):
            m = _WILDCARD_FN.fullmatch(tok) or _DOLLAR.fullmatch(tok)
            if m:
                n = int(m.group(1))
                if not 1 <= n <= len(self.stars):
                    raise ValueError("wildcard index out of range")
                self.parts.append(("star", self.stars[n - 1]))
            elif tok == ">":
                if not tail or i != len(dest_toks) - 1:
                    raise ValueError("'>' in a destination needs a '>' source")
                self.parts.append(("rest", ""))
            elif tok == "*" or "{{" in tok or not tok:
                raise ValueError("unsupported destination token")
            else:
                self.parts.append(("lit", tok))

    def apply(self, subject: str) -> str | None:
        """The mapped subject, or None when ``subject`` does not match ``src``."""
        if not matches(subject, self.src):
            return None
        toks = subject.split(".")
        out: list[str] = []
        for kind, value in self.parts:
            if kind == "lit":
                out.append(str(value))
            elif kind == "star":
                out.append(toks[int(value)])
            else:
                out.extend(toks[self.src_len - 1 :])
        return ".".join(out)
