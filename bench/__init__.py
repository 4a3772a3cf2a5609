"""Benchmarks: Orlop side by side with nats-server (and orlop.objects with nats-py's object store).

Run ``python -m bench`` (all) or ``python -m bench core|jetstream|objects``; ``--quick``
shrinks every size. Each benchmark module exposes ``run(settings) -> list[Row]``.
Benchmarks are not part of the test run: they print a table and write
``bench/results/latest.json`` (not committed).
"""
