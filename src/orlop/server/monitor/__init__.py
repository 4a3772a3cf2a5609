"""The HTTP monitoring port: nats-server's endpoints (:mod:`.endpoints`) over :mod:`.http`."""

from __future__ import annotations

from orlop.server.monitor.endpoints import MonitoredServer, MonitorServer, uptime_string

__all__ = ["MonitorServer", "MonitoredServer", "uptime_string"]
