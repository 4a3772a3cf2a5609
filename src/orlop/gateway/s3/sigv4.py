"""AWS Signature Version 4 for S3, as pure functions over a request's parts (no IO).

Why pure: signatures are easy to get subtly wrong, so every step (canonical request,
string to sign, signing key, chunk signatures) is a function of strings and bytes that
the tests can drive directly, and the ASGI layer only gathers the parts. Two places a
request carries its signature are understood: the ``Authorization`` header
(``AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…``) and the query of a
presigned URL (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature``).

S3 does not normalise the path before signing, so the canonical URI is the path exactly
as it came on the wire; when that does not match, the path re-encoded by AWS's rules is
tried too (clients disagree on which characters they escape). Any region is accepted
(the scope's region only has to be the one the client signed with); the service must be
``s3``. Failures raise :class:`~orlop.gateway.s3.errors.S3Error` with S3's codes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote, urlsplit

from orlop.gateway.s3.errors import S3Error

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "Signed",
    "canonical_query",
    "canonical_request",
    "chunk_string_to_sign",
    "presign_url",
    "signing_key",
    "string_to_sign",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = timedelta(minutes=15)
MAX_EXPIRES = 7 * 24 * 3600  # S3's limit for a presigned URL
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Signed:
    """A request whose signature checked out: who signed it, and how its body is vouched for.

    ``payload`` is the ``x-amz-content-sha256`` value: a hex SHA-256 of the body,
    ``UNSIGNED-PAYLOAD``, or one of the ``STREAMING-…`` modes (aws-chunked body).
    ``key``/``scope``/``amz_date``/``signature`` seed the chunk signatures of a streamed body.
    """

    access_key: str
    payload: str
    key: bytes
    scope: str
    amz_date: str
    signature: str

    @property
    def streaming(self) -> bool:
        return self.payload.startswith("STREAMING-")

    @property
    def signed_chunks(self) -> bool:
        return self.payload in (STREAMING, STREAMING_TRAILER)


def _uri_encode(text: str, *, slash: bool) -> str:
    return quote(text, safe="-_.~/" if slash else "-_.~")


def canonical_query(raw_query: str, *, drop: str = "") -> str:
    """The query string as SigV4 signs it: pairs URI-encoded, sorted; ``drop`` left out."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name, value = unquote(name.replace("+", " ")), unquote(value.replace("+", " "))
        if name == drop:
            continue
        pairs.append((_uri_encode(name, slash=False), _uri_encode(value, slash=False)))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, list[str]],
    signed_headers: list[str],
    payload: str,
) -> str:
    """The canonical request; ``headers`` keyed lower case, ``query`` already canonical."""
    lines = []
    for name in signed_headers:
        values = headers.get(name, [])
        lines.append(f"{name}:{','.join(_SPACES.sub(' ', v.strip()) for v in values)}\n")
    return "\n".join([method, path, query, "".join(lines), ";".join(signed_headers), payload])


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def chunk_string_to_sign(amz_date: str, scope: str, previous: str, chunk_sha256: str) -> str:
    """What one aws-chunked chunk's signature signs (chained to the previous signature)."""
    return f"{ALGORITHM}-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{chunk_sha256}"


def trailer_string_to_sign(amz_date: str, scope: str, previous: str, trailer_sha256: str) -> str:
    """What the trailer signature of a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`` body signs:
    the SHA-256 of its trailing headers (``name:value\\n`` each), chained to the last chunk's."""
    return f"{ALGORITHM}-TRAILER\n{amz_date}\n{scope}\n{previous}\n{trailer_sha256}"


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Claim:
    access_key: str
    date: str
    region: str
    signed_headers: list[str]
    signature: str
    amz_date: str
    payload: str
    presigned: bool


def _parse_header(value: str, headers: Mapping[str, list[str]]) -> _Claim:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm == "AWS":
        raise S3Error("InvalidRequest", "Signature Version 2 is not supported: sign with AWS4-HMAC-SHA256")
    if algorithm != ALGORITHM:
        raise S3Error("InvalidArgument", f"unsupported authorization type {algorithm!r}: use {ALGORITHM}")
    fields = {}
    for item in rest.split(","):
        k, sep, v = item.strip().partition("=")
        if sep:
            fields[k] = v
    try:
        credential, signed, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except KeyError:
        raise S3Error("AuthorizationHeaderMalformed", "the Authorization header is malformed") from None
    amz_date = _first(headers, "x-amz-date") or _first(headers, "date")
    payload = _first(headers, "x-amz-content-sha256")
    if not payload:
        raise S3Error("InvalidRequest", "missing required header x-amz-content-sha256")
    return _claim(credential, signed, signature, amz_date, payload, presigned=False)


def _claim(
    credential: str, signed: str, signature: str, amz_date: str, payload: str, *, presigned: bool
) -> _Claim:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or parts[3] != "s3":
        raise S3Error("AuthorizationHeaderMalformed", f"malformed credential scope {credential!r}")
    if not amz_date:
        raise S3Error("AccessDenied", "the request has no date (x-amz-date)")
    return _Claim(
        access_key=parts[0],
        date=parts[1],
        region=parts[2],
        signed_headers=[h.strip().lower() for h in signed.split(";") if h.strip()],
        signature=signature.strip(),
        amz_date=amz_date,
        payload=payload,
        presigned=presigned,
    )


def _first(headers: Mapping[str, list[str]], name: str) -> str:
    values = headers.get(name)
    return values[0].strip() if values else ""


def _parse_time(amz_date: str) -> datetime:
    for fmt in ("%Y%m%dT%H%M%SZ", "%a, %d %b %Y %H:%M:%S GMT"):
        try:
            return datetime.strptime(amz_date, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise S3Error("AccessDenied", f"unreadable request date {amz_date!r}")


def _check_time(claim: _Claim, query: Mapping[str, str], now: datetime) -> None:
    when = _parse_time(claim.amz_date)
    if claim.presigned:
        try:
            expires = int(query.get("X-Amz-Expires", ""))
        except ValueError:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires must be a number") from None
        if not 1 <= expires <= MAX_EXPIRES:
            raise S3Error(
                "AuthorizationQueryParametersError", "X-Amz-Expires must be between 1 and 604800 seconds"
            )
        if now > when + timedelta(seconds=expires):
            raise S3Error("AccessDenied", "Request has expired")
        if when - now > MAX_SKEW:
            raise S3Error("RequestTimeTooSkewed", "the request's time is too far in the future")
        return
    if abs(now - when) > MAX_SKEW:
        raise S3Error(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )


def verify(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, list[str]],
    secrets: Mapping[str, str],
    now: datetime | None = None,
) -> Signed:
    """Check a request's SigV4 signature (header or presigned query); :class:`Signed` if good.

    ``headers``: every header, lower-case names, values in arrival order. ``secrets``:
    access key -> secret key. Raises S3Error: AccessDenied (no or expired signature),
    InvalidAccessKeyId, SignatureDoesNotMatch, RequestTimeTooSkewed,
    AuthorizationHeaderMalformed, AuthorizationQueryParametersError, InvalidArgument.
    """
    query = _query_map(raw_query)
    auth = _first(headers, "authorization")
    if auth:
        claim = _parse_header(auth, headers)
        canonical_q = canonical_query(raw_query)
    elif "X-Amz-Signature" in query:
        if query.get("X-Amz-Algorithm") != ALGORITHM:
            raise S3Error("AuthorizationQueryParametersError", f"X-Amz-Algorithm must be {ALGORITHM}")
        try:
            claim = _claim(
                query["X-Amz-Credential"],
                query["X-Amz-SignedHeaders"],
                query["X-Amz-Signature"],
                query.get("X-Amz-Date", ""),
                _first(headers, "x-amz-content-sha256") or UNSIGNED,
                presigned=True,
            )
        except KeyError as exc:
            raise S3Error("AuthorizationQueryParametersError", f"missing query parameter {exc}") from None
        canonical_q = canonical_query(raw_query, drop="X-Amz-Signature")
    elif "AWSAccessKeyId" in query:
        raise S3Error(
            "InvalidRequest", "Signature Version 2 is not supported: presign with s3v4 (AWS4-HMAC-SHA256)"
        )
    else:
        raise S3Error("AccessDenied", "Access Denied: the request is not signed")
    secret = secrets.get(claim.access_key)
    if secret is None:
        raise S3Error(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        )
    _check_time(claim, query, now or datetime.now(UTC))
    if "host" not in claim.signed_headers:
        raise S3Error("AccessDenied", "the host header must be signed")
    if not (
        claim.payload in (UNSIGNED, STREAMING, STREAMING_TRAILER, STREAMING_UNSIGNED)
        or _HEX64.fullmatch(claim.payload)
    ):
        raise S3Error("InvalidArgument", f"invalid x-amz-content-sha256 {claim.payload!r}")
    key = signing_key(secret, claim.date, claim.region)
    scope = f"{claim.date}/{claim.region}/s3/aws4_request"
    for path in _path_candidates(raw_path):
        canonical = canonical_request(method, path, canonical_q, headers, claim.signed_headers, claim.payload)
        expected = sign(key, string_to_sign(claim.amz_date, scope, canonical))
        if hmac.compare_digest(expected, claim.signature):
            return Signed(claim.access_key, claim.payload, key, scope, claim.amz_date, claim.signature)
    raise S3Error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    )


def _path_candidates(raw_path: str) -> Iterable[str]:
    yield raw_path or "/"
    again = _uri_encode(unquote(raw_path), slash=True) or "/"
    if again != raw_path:
        yield again


def _query_map(raw_query: str) -> dict[str, str]:
    out = {}
    for part in raw_query.split("&"):
        if part:
            k, _, v = part.partition("=")
            out[unquote(k.replace("+", " "))] = unquote(v.replace("+", " "))
    return out


def presign_url(
    method: str,
    endpoint: str,
    bucket: str,
    key: str,
    *,
    access_key: str,
    secret_key: str,
    expires: int,
    region: str = "us-east-1",
    params: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """A presigned path-style URL for ``method`` on ``bucket``/``key`` at ``endpoint``
    (``http://host:port``, any path on it kept as a prefix), valid ``expires`` seconds
    (1 to 7 days' worth; ValueError otherwise), with ``params`` (``versionId``…) in its
    query: only ``host`` signed, the payload unsigned, as S3's own presigned URLs are.
    The gateway's :func:`verify` checks it."""
    if not 1 <= expires <= MAX_EXPIRES:
        raise ValueError(f"expires must be between 1 and {MAX_EXPIRES} seconds")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) endpoint: {endpoint!r}")
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date, day = moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y%m%d")
    scope = f"{day}/{region}/s3/aws4_request"
    path = _uri_encode(f"{parts.path.rstrip('/')}/{bucket}/{key}", slash=True)
    query = canonical_query(
        "&".join(
            f"{name}={quote(value, safe='')}"
            for name, value in (
                ("X-Amz-Algorithm", ALGORITHM),
                ("X-Amz-Credential", f"{access_key}/{scope}"),
                ("X-Amz-Date", amz_date),
                ("X-Amz-Expires", str(expires)),
                ("X-Amz-SignedHeaders", "host"),
                *(params or {}).items(),
            )
        )
    )
    canonical = canonical_request(method.upper(), path, query, {"host": [parts.netloc]}, ["host"], UNSIGNED)
    signature = sign(signing_key(secret_key, day, region), string_to_sign(amz_date, scope, canonical))
    return f"{parts.scheme}://{parts.netloc}{path}?{query}&X-Amz-Signature={signature}"
