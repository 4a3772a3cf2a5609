"""``orlop object presign``: a presigned S3 URL for one object, for people without S3 tools.

The URL is for the gateway's S3 API (``orlop gateway --s3-listen``), signed with one of its
access keys (SigV4 query authentication, as ``aws s3 presign`` makes them): whoever holds
it may GET (or, with ``--method PUT``, upload) that one object until it expires. Nothing
is sent anywhere: signing needs only the endpoint, the key and its secret, from flags or
the environment (``ORLOP_S3_ENDPOINT``, ``ORLOP_S3_ACCESS_KEY``, ``ORLOP_S3_SECRET_KEY``, the
gateway's own names; else the AWS CLI's ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``). The signing is the gateway's own
(:func:`orlop.gateway.s3.sigv4.presign_url`, imported when the command runs).
"""

from __future__ import annotations

import click

from orlop.cli.object.common import parse_duration

__all__ = ["presign"]

MAX_EXPIRES = 7 * 24 * 3600  # S3's limit, and the gateway's


@click.command()
@click.argument("bucket")
@click.argument("name")
@click.option(
    "--expires", default="1h", show_default=True, help="how long the URL works (90, 15m, 1h, 7d at most)"
)
@click.option(
    "--method",
    type=click.Choice(["GET", "PUT", "HEAD", "DELETE"], case_sensitive=False),
    default="GET",
    show_default=True,
    help="what the URL may do: GET downloads, PUT uploads the request's body",
)
@click.option("--version-id", default=None, help="a version of the object (GET/HEAD/DELETE)")
@click.option(
    "--s3-endpoint",
    envvar=["ORLOP_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
    default=None,
    help="the gateway's S3 URL, e.g. http://127.0.0.1:9000 [env: ORLOP_S3_ENDPOINT]",
)
@click.option(
    "--s3-access-key",
    envvar=["ORLOP_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID"],
    default=None,
    help="the S3 access key [env: ORLOP_S3_ACCESS_KEY]",
)
@click.option(
    "--s3-secret-key",
    envvar=["ORLOP_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"],
    default=None,
    help="its secret [env: ORLOP_S3_SECRET_KEY]",
)
@click.option("--region", default="us-east-1", show_default=True, help="the region signed for")
def presign(
    bucket: str,
    name: str,
    expires: str,
    method: str,
    version_id: str | None,
    s3_endpoint: str | None,
    s3_access_key: str | None,
    s3_secret_key: str | None,
    region: str,
) -> None:
    """Print a presigned S3 URL for object NAME in BUCKET (the gateway's S3 API)."""
    from orlop.gateway.s3.sigv4 import presign_url

    missing = [
        flag
        for flag, value in (
            ("--s3-endpoint", s3_endpoint),
            ("--s3-access-key", s3_access_key),
            ("--s3-secret-key", s3_secret_key),
        )
        if not value
    ]
    if missing:
        raise click.UsageError(f"give {', '.join(missing)} (or their ORLOP_S3_* environment variables)")
    seconds = parse_duration(expires) or 0
    if not 1 <= seconds <= MAX_EXPIRES:
        raise click.BadParameter("must be between 1 second and 7 days", param_hint="--expires")
    assert s3_endpoint and s3_access_key and s3_secret_key
    try:
        url = presign_url(
            method,
            s3_endpoint,
            bucket,
            name,
            access_key=s3_access_key,
            secret_key=s3_secret_key,
            expires=int(seconds),
            region=region,
            params={"versionId": version_id} if version_id else None,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--s3-endpoint") from exc
    click.echo(url)
