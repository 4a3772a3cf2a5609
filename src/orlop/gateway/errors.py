"""Every failure as the seed's error JSON with the matching HTTP status.

``{"error": {"code": 404, "err_code": 10404, "description": "object not found"}}``: the
Object Store errors of :mod:`orlop.errors` already carry code, err_code and description;
the gateway adds its own few (authentication, preconditions, ranges, bodies) here, and
request validation failures become 400/10400 naming the field.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from orlop.errors import AuthError, ObjectStoreError, PermissionDenied

__all__ = ["ERROR_RESPONSES", "GatewayError", "error_body", "install_handlers"]


class ErrorDetail(BaseModel):
    code: int
    err_code: int
    description: str


class ErrorResponse(BaseModel):
    """The seed's error JSON (documents every error response in the OpenAPI document)."""

    error: ErrorDetail


class GatewayError(Exception):
    """An HTTP-level refusal with the seed's error shape."""

    def __init__(
        self, code: int, err_code: int, description: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.code, self.err_code, self.description = code, err_code, description
        self.headers = headers or {}


def unauthorized(description: str = "authentication required") -> GatewayError:
    return GatewayError(401, 10401, description, {"WWW-Authenticate": 'Basic realm="orlop"'})


def error_body(code: int, err_code: int, description: str) -> dict[str, Any]:
    return {"error": {"code": code, "err_code": err_code, "description": description}}


def _respond(
    request: Request, code: int, err_code: int, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    request.state.err_code = err_code  # for the error metric (see .app)
    return JSONResponse(error_body(code, err_code, description), status_code=code, headers=headers)


async def _object_store_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ObjectStoreError)
    body = exc.to_dict()["error"]
    return _respond(request, body["code"], body["err_code"], body["description"])


async def _auth_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, PermissionDenied):
        return _respond(request, 403, 10403, f"permission denied: {exc}")
    err = unauthorized("the NATS server refused the credentials")
    return _respond(request, err.code, err.err_code, err.description, err.headers)


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return _respond(request, exc.code, exc.err_code, exc.description, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for e in exc.errors()[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body",))
        problems.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid")))
    return _respond(request, 400, 10400, "bad request: " + "; ".join(problems))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: 10404, 405: 10405, 413: 10413}
    text = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail).lower())
    return _respond(request, exc.status_code, codes.get(exc.status_code, 10000 + exc.status_code), text)


def install_handlers(app: Any) -> None:
    app.add_exception_handler(ObjectStoreError, _object_store_error)
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


def _doc(code: int, err_code: int, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"example": error_body(code, err_code, description)}},
        "model": ErrorResponse,
    }


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc(400, 10400, "bad request"),
    401: _doc(401, 10401, "authentication required"),
    403: _doc(403, 10403, "permission denied"),
    404: _doc(404, 10404, "object not found"),
    409: _doc(409, 10409, "object already exists"),
    413: _doc(413, 10413, "object too large"),
    422: _doc(422, 10422, "object could not be decrypted"),
    503: _doc(503, 10503, "object store unavailable"),
    507: _doc(507, 10507, "storage limit exceeded"),
}
