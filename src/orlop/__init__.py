"""Orlop: the NATS JetStream Object Store as a whole system, in Python.

``orlop.server`` is a NATS/JetStream server, ``orlop.objects`` the Object Store
library, ``orlop.cli`` the ``orlop`` command. See ARCHITECTURE.md for the layers.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
