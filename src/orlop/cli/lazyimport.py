"""Import a module only when one of its names is first used.

Why: nats-py imports aiohttp whenever it is installed, for ``ws://`` connections only
(which the CLI does not take). That import (its SSL context included) takes 0.3-0.8 s
here, most of a short ``orlop object ls``. :func:`defer_import` puts a stand-in under the
module's name: ``import aiohttp`` then costs nothing, and the first attribute read, if
one ever comes, imports the real module, which replaces the stand-in.

importlib's own ``LazyLoader`` does not do this: the import statement reads the
module's ``__spec__``, and any attribute read makes it load.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

__all__ = ["defer_import"]


class _StandIn(types.ModuleType):
    """Answers for a module not imported yet; loads it on the first name asked of it."""

    def __getattr__(self, attr: str) -> Any:  # called only for names the stand-in lacks
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        return getattr(real, attr)


def defer_import(name: str) -> None:
    """Let ``import name`` succeed at once and load the module on first use (no-op when it
    is imported already or not installed)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stand_in = _StandIn(name)
    stand_in.__spec__ = spec
    sys.modules[name] = stand_in
