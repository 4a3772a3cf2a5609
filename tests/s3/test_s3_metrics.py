"""S3 requests are counted in the gateway's ``/metrics`` beside the JSON API's: requests by
operation (``s3_<handler>``) and status, latency, object bytes in and out, and errors by
S3 error code; against a gateway in front of both servers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families
from tests.s3.s3helpers import S3Gateway, make_client


def _samples(gw: S3Gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(gw.process.url + "/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_s3_requests_are_in_the_gateways_metrics(s3: Any, s3gw: S3Gateway) -> None:
    s3.create_bucket(Bucket="counted")
    body = b"m" * 300_000
    s3.put_object(Bucket="counted", Key="a.bin", Body=body)
    s3.put_object(Bucket="counted", Key="b.bin", Body=body)
    assert s3.get_object(Bucket="counted", Key="a.bin")["Body"].read() == body
    with pytest.raises(ClientError):
        s3.get_object(Bucket="counted", Key="missing")
    with pytest.raises(ClientError):
        make_client(s3gw.url, secret_key="wrong").list_buckets()
    samples = _samples(s3gw)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("orlop_gateway_requests_total", operation="s3_put_object", status="200") == 2
    assert value("orlop_gateway_requests_total", operation="s3_create_bucket", status="200") == 1
    assert value("orlop_gateway_requests_total", operation="s3_get_object", status="200") == 1
    assert value("orlop_gateway_requests_total", operation="s3_get_object", status="404") == 1
    assert value("orlop_gateway_errors_total", operation="s3_get_object", err_code="NoSuchKey") == 1
    assert value("orlop_gateway_errors_total", operation="s3_refused", err_code="SignatureDoesNotMatch") == 1
    assert value("orlop_gateway_bytes_in_total", operation="s3_put_object") == 600_000
    assert value("orlop_gateway_bytes_out_total", operation="s3_get_object") >= 300_000
    assert value("orlop_gateway_request_duration_seconds_count", operation="s3_put_object") == 2
    assert value("orlop_gateway_bucket_objects", bucket="counted") == 2
