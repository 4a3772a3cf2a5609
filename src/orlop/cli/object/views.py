"""The info views and tables of ``orlop object``: natscli's layout plus Orlop's own fields."""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from typing import Any

from orlop.cli.output import human_age, human_duration, human_size, human_time, print_table, print_view
from orlop.jsapi.timefmt import parse_ts

__all__ = ["bucket_row", "digest_hex", "show_bucket", "show_object", "show_objects"]


def digest_hex(digest: str) -> str:
    """``SHA-256=<base64url>`` as natscli prints it: ``SHA-256 <hex>`` ('' when there is none)."""
    algo, found, b64 = digest.partition("=")
    if not found:
        return digest
    try:
        raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
    except ValueError:
        return digest
    return f"{algo} {raw.hex()}"


def _stream_time(text: Any) -> float:
    """A stream info timestamp (RFC 3339) as Unix seconds, 0 when absent or zero."""
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return parse_ts(text) / 1e9
    except ValueError:
        return 0.0


def show_bucket(status: Any) -> None:
    """natscli's bucket view (configuration, cluster) with the object figures Orlop adds."""
    info = status.stream_info
    cfg = info.get("config", {})
    created = human_time(_stream_time(info.get("created")))
    heading = f"Information for Object Store Bucket {status.bucket}" + (
        f" created {created}" if created else ""
    )
    max_bytes = cfg.get("max_bytes", -1)
    config: list[tuple[str, Any]] = [("Bucket Name", status.bucket)]
    if status.description:
        config.append(("Description", status.description))
    config += [
        ("Replicas", status.replicas),
        ("TTL", human_duration(status.ttl)),
        ("Sealed", status.sealed),
        ("Size", human_size(status.size)),
        ("Maximum Bucket Size", "unlimited" if max_bytes in (-1, 0, None) else human_size(max_bytes)),
        (
            "Maximum Object Size",
            human_size(status.max_object_size) if status.max_object_size else "unlimited",
        ),
        ("History", f"{status.history} revision{'s' if status.history != 1 else ''}"),
        ("Compression", status.compression),
        ("Storage", status.storage),
        ("Backing Store Kind", status.backing_store),
        ("JetStream Stream", cfg.get("name", f"OBJ_{status.bucket}")),
    ]
    placement = cfg.get("placement") or {}
    if placement.get("cluster"):
        config.append(("Placement Cluster", placement["cluster"]))
    if placement.get("tags"):
        config.append(("Placement Tags", ", ".join(placement["tags"])))
    meta = {k: v for k, v in (cfg.get("metadata") or {}).items() if not k.startswith(("_nats.", "orlop."))}
    if meta:
        config.append(("Metadata", [f"{k}: {v}" for k, v in sorted(meta.items())]))
    ratio = status.compression_ratio
    objects: list[tuple[str, Any]] = [
        ("Objects", status.object_count),
        ("Object Bytes", human_size(status.total_bytes)),
        ("Stored Bytes", human_size(status.stored_bytes)),
        ("Chunks", status.chunk_count),
        ("Compression Ratio", f"{ratio:.2f}" if ratio else "-"),
    ]
    cluster = info.get("cluster") or {}
    where: list[tuple[str, Any]] = []
    if cluster.get("name") or cluster.get("leader"):
        where.append(("Name", cluster.get("name") or ""))
        if cluster.get("leader"):
            where.append(("Leader", cluster["leader"]))
        for peer in cluster.get("replicas") or []:
            state = "current" if peer.get("current") else "outdated"
            where.append(("Replica", f"{peer.get('name')}, {state}"))
    print_view(
        heading,
        [("Configuration", config), ("Objects", objects), ("Cluster Information", where)],
    )


def show_object(obj: Any) -> None:
    """natscli's object view with the seed's generated fields (nuid, revision, created) and Orlop's."""
    rows: list[tuple[str, Any]] = []
    if obj.description:
        rows.append(("Description", obj.description))
    rows += [
        ("Size", f"{human_size(obj.original_size)} ({obj.original_size} bytes)"),
        ("Modification Time", human_time(obj.modified_ns / 1e9) if obj.modified_ns else obj.mtime),
        ("Created", human_time(obj.created_ns / 1e9)),
        ("Chunks", obj.chunks),
        ("Digest", digest_hex(obj.digest)),
    ]
    if obj.deleted:
        rows.append(("Deleted", True))
    if obj.link is not None:
        target = obj.link.bucket + (f" > {obj.link.name}" if obj.link.name else " (whole bucket)")
        rows.append(("Link To", target))
    if obj.compression:
        rows.append(("Compression", f"{obj.compression}, {human_size(obj.size)} stored"))
    if obj.encryption:
        rows.append(("Encryption", f"{obj.encryption}, key id {obj.key_id}, {human_size(obj.size)} stored"))
    if obj.ttl:
        rows.append(("TTL", human_duration(obj.ttl)))
    rows += [("Revision", obj.revision), ("NUID", obj.nuid)]
    user_headers = {k: v for k, v in obj.headers.items() if not k.lower().startswith("orlop-")}
    if user_headers:
        rows.append(("Headers", [f"{k}: {v}" for k, vs in sorted(user_headers.items()) for v in vs]))
    if obj.metadata:
        rows.append(("Metadata", [f"{k}: {v}" for k, v in sorted(obj.metadata.items())]))
    print_view(f"Object information for {obj.bucket} > {obj.name}", [("", rows)])


def show_objects(bucket: str, infos: Sequence[Any], *, wide: bool) -> None:
    """The object table: natscli's name, size, time; ``wide`` adds chunks, digest and state."""
    if not infos:
        print("No entries found")
        return
    if wide:
        rows = [
            (
                i.name,
                human_size(i.original_size),
                human_time(i.modified_ns / 1e9),
                i.chunks,
                digest_hex(i.digest)[:20],
                "deleted" if i.deleted else ("link" if i.is_link else ""),
            )
            for i in infos
        ]
        print_table(f"Bucket Contents of {bucket}", ("Name", "Size", "Time", "Chunks", "Digest", ""), rows)
        return
    rows3 = [(i.name, human_size(i.original_size), human_time(i.modified_ns / 1e9)) for i in infos]
    print_table(f"Bucket Contents of {bucket}", ("Name", "Size", "Time"), rows3)


def bucket_row(b: Any) -> dict[str, Any]:
    """One line of the bucket list: what natscli's table shows, as JSON-ready values."""
    info = b.stream_info
    state = info.get("state", {})
    last = _stream_time(state.get("last_ts"))
    return {
        "bucket": b.name,
        "description": info.get("config", {}).get("description", ""),
        "created": info.get("created", ""),
        "size": int(state.get("bytes", 0)),
        "last_update": state.get("last_ts", ""),
        "last_update_age": (time.time() - last) if last else None,
        "sealed": bool(info.get("config", {}).get("sealed", False)),
    }


def show_buckets(rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        print("No Object Store buckets found")
        return
    table = [
        (
            r["bucket"],
            r["description"],
            human_time(_stream_time(r["created"])),
            human_size(r["size"]),
            human_age(r["last_update_age"]) if r["last_update_age"] is not None else "never",
        )
        for r in rows
    ]
    print_table("Object Store Buckets", ("Bucket", "Description", "Created", "Size", "Last Update"), table)
