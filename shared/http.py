"""Helpers for HTTP handlers: JSON in and out, error translation, CORS. Handlers stay a few lines."""
from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import azure.functions as func

from shared.errors import (
    AuthorizationFailed,
    BookbridgeError,
    ConfigurationError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    PermanentError,
    RateLimited,
    TransientError,
    ValidationError,
)

log = logging.getLogger("bookbridge.http")

MAX_BODY_BYTES = 64 * 1024
T = TypeVar("T")
Handler = Callable[[func.HttpRequest], func.HttpResponse]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """A JSON response."""
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":"), default=str),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def error_body(exc: BookbridgeError) -> dict[str, Any]:
    """``{"error": {"code", "message", "field"?, "errors"?}}`` for an error."""
    err: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if isinstance(exc, ValidationError):
        err["field"] = exc.field
        err["reason"] = exc.reason
        err["errors"] = exc.errors
    if isinstance(exc, RateLimited):
        err["limit"] = exc.limit
        err["retry_after"] = exc.retry_after
    return {"error": err}


def status_for(exc: BookbridgeError) -> int:
    """The HTTP status of an error."""
    if isinstance(exc, PayloadTooLarge):
        return 413
    if isinstance(exc, RateLimited):
        return 429
    if isinstance(exc, ValidationError):
        return 422
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, AuthorizationFailed):
        return 400
    if isinstance(exc, ConfigurationError):
        return 500
    if isinstance(exc, TransientError):
        return 503
    if isinstance(exc, PermanentError):
        return 400
    return 500


#: ``Retry-After`` (seconds) of a 503 whose cause named none.
DEFAULT_RETRY_AFTER = 5


def error_response(exc: BookbridgeError, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """Translate one of our errors into a JSON response."""
    extra = dict(headers or {})
    if isinstance(exc, RateLimited) and exc.retry_after:
        extra["Retry-After"] = str(int(exc.retry_after))
    if isinstance(exc, TransientError):  # a 503 always says when to come back (rule 16)
        extra["Retry-After"] = str(max(1, int(exc.retry_after or DEFAULT_RETRY_AFTER)))
    if isinstance(exc, ConfigurationError):
        log.error("configuration error: %s", exc.message)
    return json_response(error_body(exc), status_for(exc), extra)


def read_json(req: func.HttpRequest, *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object body, size-limited (413 before parsing); a ``ValidationError`` naming
    ``body`` otherwise."""
    check_body_size(req)
    raw = req.get_body() or b""
    if not raw.strip():
        if required:
            raise ValidationError("body", "a JSON object body is required")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("body", "the body is not valid JSON") from None
    except RecursionError:
        raise ValidationError("body", "the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValidationError("body", "the body must be a JSON object")
    return data


def check_body_size(req: func.HttpRequest, limit: int = MAX_BODY_BYTES) -> None:
    """``PayloadTooLarge`` (413) when the declared or actual body is over ``limit`` bytes."""
    declared = req.headers.get("Content-Length") or ""
    too_big = declared.isdigit() and int(declared) > limit
    if too_big or len(req.get_body() or b"") > limit:
        raise PayloadTooLarge("body", f"request body is larger than {limit} bytes")


def parse_model(model: type[T], data: dict[str, Any]) -> T:
    """Validate ``data`` with a pydantic model; errors become a ``ValidationError`` naming each field."""
    import pydantic

    try:
        return model.model_validate(data)  # type: ignore[attr-defined]
    except pydantic.ValidationError as exc:
        errors = []
        for e in exc.errors(include_url=False, include_input=False):
            field = ".".join(str(p) for p in e.get("loc", ())) or "body"
            errors.append({"field": field, "reason": e.get("msg", "invalid")})
        first = errors[0] if errors else {"field": "body", "reason": "invalid"}
        raise ValidationError(first["field"], first["reason"], errors=errors) from None


def cors_headers(req: func.HttpRequest, allowed: list[str]) -> dict[str, str]:
    """CORS headers for a public endpoint when the request's Origin is allowed."""
    origin = req.headers.get("Origin") or req.headers.get("origin")
    if not origin or not allowed:
        return {}
    if "*" in allowed:
        value = "*"
    elif origin in allowed:
        value = origin
    else:
        return {}
    return {
        "Access-Control-Allow-Origin": value,
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, Idempotency-Key",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def handle(call: Callable[[], func.HttpResponse], headers: dict[str, str] | None = None) -> func.HttpResponse:
    """Run a handler body, translating our errors to JSON responses; anything else is logged (type only)
    and answered 500 as JSON, with the same headers (CORS) as every other answer."""
    try:
        response = call()
    except BookbridgeError as exc:
        return error_response(exc, headers)
    except Exception as exc:  # noqa: BLE001 - a bug must still answer JSON with CORS
        import traceback

        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        log.error("unexpected %s in a handler at %s:%s", type(exc).__name__,
                  where.filename.rsplit("/", 1)[-1] if where else "?", where.lineno if where else "?")
        body = {"error": {"code": "internal_error", "message": "An unexpected error occurred."}}
        return json_response(body, 500, headers)
    if headers:
        for key, value in headers.items():
            response.headers[key] = value
    return response


def allowed_cors_headers(req: func.HttpRequest) -> dict[str, str]:
    """:func:`cors_headers` for ``CORS_ALLOWED_ORIGINS`` of the process container (none when unreadable)."""
    from shared import bootstrap

    try:
        allowed = bootstrap.container().settings.get_list("CORS_ALLOWED_ORIGINS")
    except Exception:  # noqa: BLE001 - CORS must never break a response
        allowed = []
    return cors_headers(req, allowed)


def public_endpoint(handler: Handler) -> Handler:
    """An anonymous endpoint of the public API: CORS headers for an allowed Origin, the ``OPTIONS``
    preflight answered (204), our errors as JSON.

    ``functools.wraps`` keeps the handler's signature (``req: func.HttpRequest``) for the Functions host.
    """

    @functools.wraps(handler)
    def endpoint(req: func.HttpRequest) -> func.HttpResponse:
        cors = allowed_cors_headers(req)
        if (req.method or "").upper() == "OPTIONS":
            return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store", **cors})
        return handle(lambda: handler(req), cors)

    return endpoint


def management_endpoint(handler: Handler) -> Handler:
    """A function-key endpoint of the management API: our errors as JSON (signature kept for the host)."""

    @functools.wraps(handler)
    def endpoint(req: func.HttpRequest) -> func.HttpResponse:
        return handle(lambda: handler(req))

    return endpoint
