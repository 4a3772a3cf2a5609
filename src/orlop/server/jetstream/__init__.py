"""JetStream inside the Orlop server: streams, consumers and the ``$JS.API`` service.

The service (:class:`JetStreamService`) owns one :class:`AccountJetStream` per
account; requests are dispatched by :mod:`.api` to handler modules named
``*_api``; each stream's messages enter through :mod:`.publish`. Imports point down only:
the lower modules see their owners through the Protocols of :mod:`.types`.
"""

from __future__ import annotations

from orlop.server.jetstream.account_js import AccountJetStream, AccountLimits
from orlop.server.jetstream.api import ApiRequest, api
from orlop.server.jetstream.service import JetStreamService
from orlop.server.jetstream.stream import Stream, StreamFeature

__all__ = [
    "AccountJetStream",
    "AccountLimits",
    "ApiRequest",
    "JetStreamService",
    "Stream",
    "StreamFeature",
    "api",
]
