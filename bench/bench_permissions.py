"""What subject permissions cost: core pub/sub as a user with rules against one without.

Issue 13's target: a user with 10 allow and 10 deny rules (publish and subscribe alike)
publishes and receives 128 B messages at >= 0.9x the rate of a user without any, on the
same server in the same run (alternating). Both servers are measured; nats-server's own
ratio is printed beside Orlop's for scale. The rules are checked the way a real
deployment has them: the published subject matches one allow pattern among ten, and
each deny pattern is a near miss of it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench.bench_core import pub_sub_rate
from bench.common import Row, Settings, Target, compare, make_row, run_loop, running_server

__all__ = ["run"]

ALLOW = ["bench.core", *(f"app{i}.>" for i in range(8)), "_INBOX.>"]
DENY = [f"bench.core.{i}" for i in range(5)] + [f"app{i}.secret.>" for i in range(5)]


def _config() -> str:
    rules = f"{{ allow: {json.dumps(ALLOW)}, deny: {json.dumps(DENY)} }}"
    return (
        "authorization { users: [\n"
        "  { user: open, password: pw }\n"
        f"  {{ user: ruled, password: pw, permissions: {{ publish: {rules}, subscribe: {rules} }} }}\n"
        "] }\n"
    )


async def _measure(settings: Settings, urls: dict[str, str]) -> list[Row]:
    count = 50_000 if settings.quick else 300_000
    rows = []
    for kind, url in urls.items():
        host = url.removeprefix("nats://")
        sides = await compare(
            {
                "ruled": lambda h=host: pub_sub_rate(f"nats://ruled:pw@{h}", 128, count),
                "open": lambda h=host: pub_sub_rate(f"nats://open:pw@{h}", 128, count),
            },
            settings.runs,
            timeout=300,
            warmup=1,
        )
        target = Target("ratio>=", 0.9) if kind == "orlop" else Target()
        rows.append(
            make_row(
                "permissions",
                f"pub/sub 128 B, 10+10 rules vs none ({kind})",
                "msgs/s",
                "msgs",
                sides["ruled"],
                sides["open"],
                target,
                labels=("with rules", "without"),
            )
        )
    return rows


def run(settings: Settings) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-perms-") as tmp:
        conf = Path(tmp) / "perms.conf"
        conf.write_text(_config())
        urls: dict[str, str] = {}
        servers = []
        try:
            for kind in settings.kinds:
                cm = running_server(kind, ["-c", str(conf)], jetstream=False)
                servers.append(cm)
                urls[kind] = cm.__enter__().url
            return run_loop(lambda: _measure(settings, urls), settings.uvloop)
        finally:
            for cm in reversed(servers):
                cm.__exit__(None, None, None)
