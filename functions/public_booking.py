"""Public booking API (anonymous, CORS for CORS_ALLOWED_ORIGINS): slots, intake, status, cancel, reschedule.

Each handler parses and validates (pydantic, imported inside the handler), calls one use case and
translates the result or error with ``shared.http``. Every route also answers the CORS preflight.
"""
from __future__ import annotations

from typing import Any

import azure.functions as func

bp = func.Blueprint()

_ANON = func.AuthLevel.ANONYMOUS
_IDEMPOTENCY_HEADER = "Idempotency-Key"


# ----------------------------------------------------------------------------- wiring
def availability_deps() -> Any:
    """``AvailabilityDeps`` of the process container."""
    from shared import bootstrap

    return bootstrap.container().availability_deps()


def booking_deps() -> Any:
    """``BookingDeps`` of the process container."""
    from shared import bootstrap

    return bootstrap.container().booking_deps()


def _cors(req: func.HttpRequest) -> dict[str, str]:
    from shared import bootstrap
    from shared.http import cors_headers

    try:
        allowed = bootstrap.container().settings.get_list("CORS_ALLOWED_ORIGINS")
    except Exception:  # noqa: BLE001 - CORS must never break a response
        allowed = []
    return cors_headers(req, allowed)


def _preflight(headers: dict[str, str]) -> func.HttpResponse:
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store", **headers})


def _is_preflight(req: func.HttpRequest) -> bool:
    return (req.method or "").upper() == "OPTIONS"


def _idempotency_key(req: func.HttpRequest) -> str | None:
    from shared.errors import ValidationError

    key = req.headers.get(_IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(33 <= ord(ch) <= 126 for ch in key):
        raise ValidationError(_IDEMPOTENCY_HEADER, "1-255 visible ASCII characters")
    return key


# ----------------------------------------------------------------------------- handlers
@bp.route(route="calendars/{slug}/slots", methods=["GET", "OPTIONS"], auth_level=_ANON)
def public_slots(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/calendars/{slug}/slots?start=YYYY-MM-DD&end=YYYY-MM-DD&timezone=Area/City``."""
    from shared.http import handle, json_response, parse_model

    cors = _cors(req)
    if _is_preflight(req):
        return _preflight(cors)

    def run() -> func.HttpResponse:
        from shared.schemas.bookings import SlotsQuery
        from shared.usecases.availability import list_slots

        query = parse_model(SlotsQuery, {k: req.params[k] for k in ("start", "end", "timezone") if k in req.params})
        body = list_slots(availability_deps(), req.route_params.get("slug", ""), query.start, query.end,
                          query.timezone)
        return json_response(body)

    return handle(run, cors)


@bp.route(route="calendars/{slug}/bookings", methods=["POST", "OPTIONS"], auth_level=_ANON)
def public_create_booking(req: func.HttpRequest) -> func.HttpResponse:
    """``POST /api/calendars/{slug}/bookings`` with ``{"start", "name", "email", "timezone", "notes"?}``."""
    from shared.http import handle, json_response, parse_model, read_json

    cors = _cors(req)
    if _is_preflight(req):
        return _preflight(cors)

    def run() -> func.HttpResponse:
        from shared.schemas.bookings import BookingIn
        from shared.usecases.booking import BookingRequest, create_booking

        body = parse_model(BookingIn, read_json(req))
        key = _idempotency_key(req)
        request = BookingRequest(body.start_utc, body.name, body.email, body.timezone, body.notes, body.time_format)
        result = create_booking(booking_deps(), req.route_params.get("slug", ""), request, key)
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        return json_response(result.body, 201, headers)

    return handle(run, cors)


@bp.route(route="bookings/{id}", methods=["GET", "OPTIONS"], auth_level=_ANON)
def public_get_booking(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/bookings/{id}?token=...``."""
    from shared.http import handle, json_response

    cors = _cors(req)
    if _is_preflight(req):
        return _preflight(cors)

    def run() -> func.HttpResponse:
        from shared.usecases.booking import get_booking

        return json_response(get_booking(booking_deps(), req.route_params.get("id", ""), req.params.get("token")))

    return handle(run, cors)


@bp.route(route="bookings/{id}/cancel", methods=["POST", "OPTIONS"], auth_level=_ANON)
def public_cancel_booking(req: func.HttpRequest) -> func.HttpResponse:
    """``POST /api/bookings/{id}/cancel?token=...``."""
    from shared.http import handle, json_response

    cors = _cors(req)
    if _is_preflight(req):
        return _preflight(cors)

    def run() -> func.HttpResponse:
        from shared.usecases.booking import cancel_booking

        return json_response(cancel_booking(booking_deps(), req.route_params.get("id", ""), req.params.get("token")))

    return handle(run, cors)


@bp.route(route="bookings/{id}/reschedule", methods=["POST", "OPTIONS"], auth_level=_ANON)
def public_reschedule_booking(req: func.HttpRequest) -> func.HttpResponse:
    """``POST /api/bookings/{id}/reschedule?token=...`` with ``{"start"}``."""
    from shared.http import handle, json_response, parse_model, read_json

    cors = _cors(req)
    if _is_preflight(req):
        return _preflight(cors)

    def run() -> func.HttpResponse:
        from shared.schemas.bookings import RescheduleIn
        from shared.usecases.booking import reschedule_booking

        body = parse_model(RescheduleIn, read_json(req))
        result = reschedule_booking(booking_deps(), req.route_params.get("id", ""), req.params.get("token"),
                                    body.start_utc)
        return json_response(result)

    return handle(run, cors)
