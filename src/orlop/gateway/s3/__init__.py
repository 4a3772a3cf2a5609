"""The S3-compatible API of ``orlop gateway`` (``--s3-listen``): boto3, the AWS CLI and
other S3 clients on NATS object stores, built on :mod:`orlop.objects` like the JSON API.

Modules, bottom up: :mod:`.errors` (S3's codes and XML error shape), :mod:`.sigv4`
(signature checks, pure), :mod:`.body` (a PutObject body verified while it streams),
:mod:`.etags`, :mod:`.listing` (pages cut from the stream's subject index),
:mod:`.bucket_settings` (CreateBucket's ``x-amz-meta-*`` settings), :mod:`.parts` (part
sizes for ``partNumber``), :mod:`.bucket_ops`, :mod:`.object_ops` and :mod:`.copy_ops` (the
operations), :mod:`.versions` (versioning on revisions), :mod:`.uploads` (where multipart
uploads in progress live), :mod:`.multipart` and :mod:`.multipart_list` (the multipart
operations), :mod:`.sweeper` (abandoned uploads removed), :mod:`.app` (dispatch, auth),
:mod:`.config` and :mod:`.serve` (a second uvicorn server). See docs/s3.md.
"""

from __future__ import annotations

from orlop.gateway.s3.config import S3Config, S3Key

__all__ = ["S3Config", "S3Key"]
