"""Fault campaigns: seeded, bounded attempts to make a server lose or corrupt acknowledged data.

``python -m campaigns <campaign> [--rounds N] [--seed S] [--kinds orlop,nats-server]``
runs one against Orlop and nats-server side by side and prints ``N passed, M
failed`` per server, with acknowledged messages and objects, lost and corrupt;
failing seeds are kept in ``campaigns/failures/``. A short slice of every
campaign runs in ``make test`` (``tests/test_campaigns.py``); the long runs and
their figures are in ``docs/reliability.md``.

* ``kill``     SIGKILL during mixed publishes, object puts, deletes, purges and compaction
* ``diskfull`` a small tmpfs filled by puts, then deletes, purges, compaction, more puts, restarts
* ``damage``   torn tails, flipped bytes and deleted index files in the store, then a restart
* ``hostile``  garbage, huge declared sizes, endless control lines, idle crowds, slow consumers
"""
