"""Bucket operations and listings through boto3, against a gateway in front of both servers."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_bucket_lifecycle(s3: Any) -> None:
    assert s3.list_buckets()["Buckets"] == []
    s3.create_bucket(Bucket="photos")
    s3.create_bucket(Bucket="docs", CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    listed = s3.list_buckets()["Buckets"]
    assert [b["Name"] for b in listed] == ["docs", "photos"]
    assert all(b["CreationDate"].year >= 2024 for b in listed)
    with pytest.raises(ClientError) as again:
        s3.create_bucket(Bucket="docs")
    assert _code(again) == ("BucketAlreadyOwnedByYou", 409)
    assert s3.head_bucket(Bucket="docs")["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as missing:
        s3.head_bucket(Bucket="nope")
    assert _code(missing)[1] == 404
    assert s3.get_bucket_location(Bucket="docs").get("LocationConstraint") is None
    s3.put_object(Bucket="docs", Key="a.txt", Body=b"a")
    with pytest.raises(ClientError) as full:
        s3.delete_bucket(Bucket="docs")
    assert _code(full) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket="docs", Key="a.txt")
    s3.delete_bucket(Bucket="docs")  # a tombstone left by the delete does not make it non-empty
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["photos"]
    with pytest.raises(ClientError) as gone:
        s3.list_objects_v2(Bucket="docs")
    assert _code(gone) == ("NoSuchBucket", 404)


def test_bucket_names_the_object_store_cannot_hold(s3: Any) -> None:
    with pytest.raises(ClientError) as dotted:
        s3.create_bucket(Bucket="my.bucket")
    assert _code(dotted) == ("InvalidBucketName", 400)


@pytest.fixture
def tree(s3: Any) -> list[str]:
    """A bucket of 300 keys: 3 top-level dirs of 2 subdirs of 40 keys, 60 files at the root."""
    s3.create_bucket(Bucket="tree")
    keys = [f"dir{d}/sub{s}/file{i:03d}.txt" for d in range(3) for s in range(2) for i in range(40)]
    keys += [f"root{i:03d}.txt" for i in range(60)]
    for key in keys:
        s3.put_object(Bucket="tree", Key=key, Body=key.encode())
    return sorted(keys)


def test_listing_v2_paginates_prefixes_and_delimiters(s3: Any, tree: list[str]) -> None:
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(Bucket="tree", PaginationConfig={"PageSize": 70})
    )
    assert len(pages) == 5 and all(p["KeyCount"] <= 70 for p in pages)
    got = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert got == tree
    first = pages[0]["Contents"][0]
    assert first["Size"] == len(first["Key"]) and first["ETag"].startswith('"') and len(first["ETag"]) == 34

    top = s3.list_objects_v2(Bucket="tree", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir0/", "dir1/", "dir2/"]
    assert len(top["Contents"]) == 60 and top["KeyCount"] == 63
    sub = s3.list_objects_v2(Bucket="tree", Prefix="dir1/", Delimiter="/")
    assert [p["Prefix"] for p in sub["CommonPrefixes"]] == ["dir1/sub0/", "dir1/sub1/"]
    assert "Contents" not in sub
    leaf = s3.list_objects_v2(Bucket="tree", Prefix="dir1/sub1/", MaxKeys=15)
    assert leaf["IsTruncated"] and len(leaf["Contents"]) == 15
    rest = s3.list_objects_v2(
        Bucket="tree", Prefix="dir1/sub1/", ContinuationToken=leaf["NextContinuationToken"]
    )
    assert len(rest["Contents"]) == 25 and not rest["IsTruncated"]
    after = s3.list_objects_v2(Bucket="tree", StartAfter="root057.txt")
    assert [o["Key"] for o in after["Contents"]] == ["root058.txt", "root059.txt"]
    # Prefixes paginate too: two per page.
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket="tree", Delimiter="/", PaginationConfig={"PageSize": 2}
        )
    )
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    assert prefixes == ["dir0/", "dir1/", "dir2/"]
    assert len([o for page in pages for o in page.get("Contents", [])]) == 60


def test_listing_v1_markers(s3: Any, tree: list[str]) -> None:
    first = s3.list_objects(Bucket="tree", MaxKeys=100)
    assert first["IsTruncated"] and len(first["Contents"]) == 100
    second = s3.list_objects(Bucket="tree", Marker=first["Contents"][-1]["Key"], MaxKeys=1000)
    assert [o["Key"] for o in first["Contents"] + second["Contents"]] == tree
    rolled = s3.list_objects(Bucket="tree", Delimiter="/", MaxKeys=2)
    assert rolled["IsTruncated"] and rolled["NextMarker"] == "dir1/"
    nxt = s3.list_objects(Bucket="tree", Delimiter="/", Marker=rolled["NextMarker"], MaxKeys=2)
    assert [p["Prefix"] for p in nxt["CommonPrefixes"]] == ["dir2/"] and nxt["Contents"][0][
        "Key"
    ] == "root000.txt"
    all_v1 = [
        o["Key"] for p in s3.get_paginator("list_objects").paginate(Bucket="tree") for o in p["Contents"]
    ]
    assert all_v1 == tree


def test_listing_url_encoding_and_odd_names(s3: Any) -> None:
    s3.create_bucket(Bucket="odd")
    names = ["a b/c+d.txt", "ünï/cödé.txt", "x&y<z>.txt", "q?uery=1"]
    for name in names:
        s3.put_object(Bucket="odd", Key=name, Body=b"1")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="odd")["Contents"]] == sorted(names)
    raw = s3.list_objects_v2(Bucket="odd", EncodingType="url")  # asked for by the caller: left encoded
    assert [unquote_plus(o["Key"]) for o in raw["Contents"]] == sorted(names)
    assert raw["Contents"][0]["Key"] == "a%20b/c%2Bd.txt"
    for name in names:
        assert s3.get_object(Bucket="odd", Key=name)["Body"].read() == b"1"
