"""Running the gateway: beside the embedded server, its metrics, CORS, and a NATS server gone."""

from __future__ import annotations

import base64
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from orlop.testing import GatewayProcess, ServerProcess, _free_port


def test_serve_with_the_gateway_in_one_command(tmp_path: Path) -> None:
    # --gateway 127.0.0.1:0: the gateway binds any free port and the banner shows which.
    nats_port = _free_port()
    orlop = str(Path(sys.executable).with_name("orlop"))
    cmd = [orlop, "serve", "-js", "-p", str(nats_port), "-sd", str(tmp_path / "data"),
           "--gateway", "127.0.0.1:0"]  # fmt: skip
    log = tmp_path / "serve.log"
    with open(log, "wb") as err_file:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        found = None
        for _ in range(200):
            found = re.search(r"Gateway: http://127\.0\.0\.1:(\d+)/", log.read_text(errors="replace"))
            if found or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert found, log.read_text()
        assert int(found.group(1)) != 0
        base = f"http://127.0.0.1:{found.group(1)}"
        assert httpx.get(base + "/healthz", timeout=5).status_code == 200
        made = httpx.post(base + "/api/v1/buckets", json={"bucket": "one"}, timeout=10)
        assert made.status_code == 201, made.text
        assert (
            httpx.put(base + "/api/v1/buckets/one/objects/x", content=b"beside", timeout=10).status_code
            == 201
        )
        assert httpx.get(base + "/api/v1/buckets/one/objects/x", timeout=10).content == b"beside"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0, log.read_text()


async def test_metrics_count_requests_and_describe_buckets(gateway: GatewayProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        await http.post("/api/v1/buckets", json={"bucket": "m"})
        await http.put("/api/v1/buckets/m/objects/a.txt", content=b"a" * 10_000)
        body = {
            "name": "z.txt",
            "data": base64.b64encode(b"z" * 10_000).decode(),
            "options": {"compression": "s2"},
        }
        assert (await http.post("/api/v1/buckets/m/put", json=body)).status_code == 201
        await http.get("/api/v1/buckets/m/objects/a.txt")
        await http.get("/api/v1/buckets/m/objects/missing")
        text = (await http.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("orlop_gateway_requests_total", operation="put", status="201") == 2
    assert value("orlop_gateway_requests_total", operation="get", status="200") == 1
    assert value("orlop_gateway_errors_total", operation="get", err_code="10404") == 1
    assert value("orlop_gateway_bytes_in_total", operation="put") == 20_000
    assert value("orlop_gateway_bytes_out_total", operation="get") == 10_000
    assert value("orlop_gateway_request_duration_seconds_count", operation="put") == 2
    assert value("orlop_gateway_bucket_objects", bucket="m") == 2
    assert value("orlop_gateway_bucket_logical_bytes", bucket="m") == 20_000
    assert value("orlop_gateway_bucket_compression_ratio", bucket="m") > 1.5  # z.txt compresses well
    assert value("orlop_gateway_watchers") == 0


def test_cors_is_off_unless_configured(server: ServerProcess, gateway_factory: type[GatewayProcess]) -> None:
    plain = gateway_factory(server.url).start()
    allowed = gateway_factory(server.url, ["--cors", "https://ops.example.com"]).start()
    origin = {"Origin": "https://ops.example.com"}
    assert (
        "access-control-allow-origin" not in httpx.get(plain.url + "/api/v1/buckets", headers=origin).headers
    )
    got = httpx.get(allowed.url + "/api/v1/buckets", headers=origin)
    assert got.headers["access-control-allow-origin"] == "https://ops.example.com"
    other = httpx.get(allowed.url + "/api/v1/buckets", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_a_nats_server_gone_is_503(
    orlop_server: ServerProcess, gateway_factory: type[GatewayProcess]
) -> None:
    gw = gateway_factory(orlop_server.url).start()
    assert httpx.post(gw.url + "/api/v1/buckets", json={"bucket": "b"}, timeout=10).status_code == 201
    orlop_server.close()
    gone = httpx.get(gw.url + "/api/v1/buckets/b", timeout=30)
    assert gone.status_code == 503, gone.text
    assert gone.json()["error"]["code"] == 503
    assert httpx.get(gw.url + "/healthz", timeout=5).status_code == 200  # the gateway itself is up
