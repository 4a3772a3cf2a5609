"""S3 versioning through boto3 against a gateway in front of both servers: the bucket's
status (its history depth), ListObjectVersions with delete markers and paging, and
GetObject / HeadObject / DeleteObject(s) with ``versionId`` (the meta's revision)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.s3.s3helpers import S3Gateway

from orlop.objects import connect


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def _enable(s3: Any, bucket: str) -> None:
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


async def _history(url: str, bucket: str) -> int:
    async with connect(url) as client:
        return (await client.bucket(bucket)).history


def test_bucket_versioning_status_is_the_history_depth(s3: Any, s3gw: S3Gateway) -> None:
    s3.create_bucket(Bucket="vs")
    assert "Status" not in s3.get_bucket_versioning(Bucket="vs")  # never versioned
    s3.put_bucket_versioning(Bucket="vs", VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket="vs")["Status"] == "Enabled"
    assert asyncio.run(_history(s3gw.nats_url, "vs")) == 64
    s3.put_object(Bucket="vs", Key="k", Body=b"one")
    s3.put_object(Bucket="vs", Key="k", Body=b"two")
    assert len(s3.list_object_versions(Bucket="vs")["Versions"]) == 2
    s3.put_bucket_versioning(Bucket="vs", VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket="vs")["Status"] == "Suspended"
    assert asyncio.run(_history(s3gw.nats_url, "vs")) == 1
    versions = s3.list_object_versions(Bucket="vs")["Versions"]  # history trimmed to one
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == [("k", "null", True)]
    assert s3.get_object(Bucket="vs", Key="k")["Body"].read() == b"two"
    with pytest.raises(ClientError) as bad:
        s3.put_bucket_versioning(Bucket="vs", VersioningConfiguration={"Status": "Maybe"})
    assert _code(bad) == ("MalformedXML", 400)
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_versioning(Bucket="nope")
    assert _code(missing) == ("NoSuchBucket", 404)


def test_versions_get_head_and_delete_markers(s3: Any) -> None:
    _enable(s3, "ver")
    ids = [s3.put_object(Bucket="ver", Key="doc", Body=body)["VersionId"] for body in (b"v1", b"v2", b"v3")]
    assert len(set(ids)) == 3 and all(i.isdigit() for i in ids)
    for vid, body in zip(ids, (b"v1", b"v2", b"v3"), strict=True):
        got = s3.get_object(Bucket="ver", Key="doc", VersionId=vid)
        assert got["Body"].read() == body and got["VersionId"] == vid
        assert s3.head_object(Bucket="ver", Key="doc", VersionId=vid)["ContentLength"] == 2
    assert s3.get_object(Bucket="ver", Key="doc")["VersionId"] == ids[-1]

    deleted = s3.delete_object(Bucket="ver", Key="doc")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"].isdigit()
    marker = deleted["VersionId"]
    with pytest.raises(ClientError) as gone:
        s3.get_object(Bucket="ver", Key="doc")
    assert _code(gone) == ("NoSuchKey", 404)
    assert gone.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert s3.get_object(Bucket="ver", Key="doc", VersionId=ids[0])["Body"].read() == b"v1"
    with pytest.raises(ClientError) as on_marker:
        s3.get_object(Bucket="ver", Key="doc", VersionId=marker)
    assert _code(on_marker) == ("MethodNotAllowed", 405)
    assert s3.list_objects_v2(Bucket="ver")["KeyCount"] == 0

    listed = s3.list_object_versions(Bucket="ver")
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [
        ("doc", marker, True)
    ]
    assert [(v["VersionId"], v["IsLatest"], v["Size"]) for v in listed["Versions"]] == [
        (ids[2], False, 2),
        (ids[1], False, 2),
        (ids[0], False, 2),
    ]
    # Removing the delete marker brings the object back; removing a version removes just that one.
    removed = s3.delete_object(Bucket="ver", Key="doc", VersionId=marker)
    assert removed["DeleteMarker"] is True and removed["VersionId"] == marker
    assert s3.get_object(Bucket="ver", Key="doc")["Body"].read() == b"v3"
    s3.delete_object(Bucket="ver", Key="doc", VersionId=ids[1])
    assert [v["VersionId"] for v in s3.list_object_versions(Bucket="ver")["Versions"]] == [ids[2], ids[0]]
    with pytest.raises(ClientError) as no_version:
        s3.get_object(Bucket="ver", Key="doc", VersionId=ids[1])
    assert _code(no_version) == ("NoSuchVersion", 404)
    s3.delete_object(Bucket="ver", Key="doc", VersionId=ids[2])  # the newest: the one before is current
    assert s3.get_object(Bucket="ver", Key="doc")["Body"].read() == b"v1"
    s3.delete_object(Bucket="ver", Key="doc", VersionId=ids[2])  # already gone: still 204
    with pytest.raises(ClientError) as invalid:
        s3.get_object(Bucket="ver", Key="doc", VersionId="not-a-version")
    assert _code(invalid) == ("InvalidArgument", 400)
    s3.delete_object(Bucket="ver", Key="doc", VersionId=ids[0])
    assert "Versions" not in s3.list_object_versions(Bucket="ver")
    s3.delete_bucket(Bucket="ver")  # nothing left


def test_list_versions_paging_prefix_delimiter(s3: Any) -> None:
    _enable(s3, "pages")
    expected: list[tuple[str, str]] = []
    for key in ("a/1", "a/2", "b", "c/x"):
        for n in range(3):
            expected.append(
                (key, s3.put_object(Bucket="pages", Key=key, Body=f"{key}{n}".encode())["VersionId"])
            )
    s3.delete_object(Bucket="pages", Key="b")
    seen: list[tuple[str, str]] = []
    kwargs: dict[str, str] = {}
    pages = 0
    while True:
        page = s3.list_object_versions(Bucket="pages", MaxKeys=4, **kwargs)
        pages += 1
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        assert len(entries) <= 4
        seen += sorted(((e["Key"], e["VersionId"]) for e in entries), key=lambda e: (e[0], -int(e[1])))
        if not page["IsTruncated"]:
            break
        kwargs = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    by_key = sorted([*expected, ("b", "0")], key=lambda e: (e[0], -int(e[1])))
    assert [k for k, _ in seen] == [k for k, _ in by_key] and pages == 4  # 13 entries by 4
    paginated = [
        v["VersionId"]
        for p in s3.get_paginator("list_object_versions").paginate(
            Bucket="pages", PaginationConfig={"PageSize": 2}
        )
        for v in p.get("Versions", [])
    ]
    assert sorted(paginated) == sorted(v for _, v in expected)

    under_a = s3.list_object_versions(Bucket="pages", Prefix="a/")
    assert {v["Key"] for v in under_a["Versions"]} == {"a/1", "a/2"} and len(under_a["Versions"]) == 6
    rolled = s3.list_object_versions(Bucket="pages", Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "c/"]
    assert {v["Key"] for v in rolled["Versions"]} == {"b"} and rolled["DeleteMarkers"][0]["IsLatest"]
    after = s3.list_object_versions(Bucket="pages", KeyMarker="b")
    assert {v["Key"] for v in after["Versions"]} == {"c/x"}


def test_delete_objects_with_versions(s3: Any) -> None:
    _enable(s3, "batch")
    first = s3.put_object(Bucket="batch", Key="k", Body=b"1")["VersionId"]
    s3.put_object(Bucket="batch", Key="k", Body=b"2")
    s3.put_object(Bucket="batch", Key="other", Body=b"o")
    result = s3.delete_objects(
        Bucket="batch", Delete={"Objects": [{"Key": "k", "VersionId": first}, {"Key": "other"}]}
    )
    by_key = {d["Key"]: d for d in result["Deleted"]}
    assert by_key["k"]["VersionId"] == first and by_key["other"]["DeleteMarker"] is True
    assert by_key["other"]["DeleteMarkerVersionId"].isdigit()
    assert [v["VersionId"] for v in s3.list_object_versions(Bucket="batch", Prefix="k")["Versions"]] != [
        first
    ]
    assert s3.get_object(Bucket="batch", Key="k")["Body"].read() == b"2"


def test_unversioned_bucket_answers_null_versions(s3: Any) -> None:
    s3.create_bucket(Bucket="plain")
    put = s3.put_object(Bucket="plain", Key="k", Body=b"x")
    assert "VersionId" not in put
    s3.put_object(Bucket="plain", Key="gone", Body=b"y")
    s3.delete_object(Bucket="plain", Key="gone")
    listed = s3.list_object_versions(Bucket="plain")
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [("k", "null", True)]
    assert "DeleteMarkers" not in listed
    assert s3.get_object(Bucket="plain", Key="k", VersionId="null")["Body"].read() == b"x"


def test_copy_and_upload_part_copy_of_a_version(s3: Any) -> None:
    _enable(s3, "cpv")
    old = s3.put_object(Bucket="cpv", Key="src", Body=b"old bytes")["VersionId"]
    s3.put_object(Bucket="cpv", Key="src", Body=b"new bytes")
    copied = s3.copy_object(
        Bucket="cpv", Key="dst", CopySource={"Bucket": "cpv", "Key": "src", "VersionId": old}
    )
    assert copied["CopySourceVersionId"] == old and copied["VersionId"].isdigit()
    assert s3.get_object(Bucket="cpv", Key="dst")["Body"].read() == b"old bytes"
    s3.copy_object(Bucket="cpv", Key="src", CopySource={"Bucket": "cpv", "Key": "src", "VersionId": old})
    assert s3.get_object(Bucket="cpv", Key="src")["Body"].read() == b"old bytes"  # a restore, S3's way
    upload = s3.create_multipart_upload(Bucket="cpv", Key="mp")["UploadId"]
    part = s3.upload_part_copy(
        Bucket="cpv",
        Key="mp",
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": "cpv", "Key": "src", "VersionId": old},
        CopySourceRange="bytes=0-2",
    )
    s3.complete_multipart_upload(
        Bucket="cpv",
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]},
    )
    assert s3.get_object(Bucket="cpv", Key="mp")["Body"].read() == b"old"


def test_completed_upload_has_a_version(s3: Any) -> None:
    _enable(s3, "mpv")
    upload = s3.create_multipart_upload(Bucket="mpv", Key="k")["UploadId"]
    etag = s3.upload_part(Bucket="mpv", Key="k", UploadId=upload, PartNumber=1, Body=b"abc")["ETag"]
    done = s3.complete_multipart_upload(
        Bucket="mpv", Key="k", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    assert done["VersionId"] == s3.head_object(Bucket="mpv", Key="k")["VersionId"]


def test_a_versioned_bucket_is_deleted_only_once_every_version_is_gone(s3: Any) -> None:
    _enable(s3, "vdel")
    first = s3.put_object(Bucket="vdel", Key="a.txt", Body=b"one")["VersionId"]
    second = s3.put_object(Bucket="vdel", Key="a.txt", Body=b"two")["VersionId"]
    marker = s3.delete_object(Bucket="vdel", Key="a.txt")["VersionId"]
    upload = s3.create_multipart_upload(Bucket="vdel", Key="in-progress")["UploadId"]
    s3.upload_part(Bucket="vdel", Key="in-progress", UploadId=upload, PartNumber=1, Body=b"p")
    assert s3.list_objects_v2(Bucket="vdel")["KeyCount"] == 0  # no live object, but versions
    for left in (first, second, marker):
        with pytest.raises(ClientError) as full:
            s3.delete_bucket(Bucket="vdel")
        assert _code(full) == ("BucketNotEmpty", 409)
        assert "all versions" in full.value.response["Error"]["Message"]
        s3.delete_object(Bucket="vdel", Key="a.txt", VersionId=left)
    assert s3.list_object_versions(Bucket="vdel").get("Versions", []) == []
    s3.delete_bucket(Bucket="vdel")  # the upload in progress goes with it, as in S3
    assert "vdel" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
