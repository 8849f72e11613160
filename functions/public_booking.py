"""Public booking API (anonymous, CORS for CORS_ALLOWED_ORIGINS): slots, intake, status, cancel, reschedule.

Each handler parses and validates (pydantic, imported inside the handler) and calls one use case;
``shared.http.public_endpoint`` adds CORS, answers the preflight and translates our errors.
"""
from __future__ import annotations

from typing import Any

import azure.functions as func

from shared.http import public_endpoint

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


def _limits() -> Any:
    """``PublicLimits`` of the process container."""
    from shared import bootstrap

    return bootstrap.container().public_limits


def _client(req: func.HttpRequest) -> str | None:
    from shared import bootstrap
    from shared.domain.rate_limits import client_address

    return client_address(req.headers, bootstrap.container().settings.get("CLIENT_IP_HEADER"))


def _human_check(req: func.HttpRequest, body: Any) -> None:
    """The form's quiet signals, then the optional human check (Turnstile), before anything is stored."""
    from shared import bootstrap
    from shared.usecases.human_check import check_form_signals, require_human

    container = bootstrap.container()
    check_form_signals(body.website, body.fill_ms, container.settings.get_int("BOOKING_FORM_MIN_FILL_MS"))
    require_human(container.human_check, body.human_check_token, _client(req))


def _challenge() -> Any:
    """``human_check`` of the slots answer (``None``: intake asks for none)."""
    from shared import bootstrap
    from shared.usecases.human_check import challenge

    settings = bootstrap.container().settings
    return challenge(settings.get("TURNSTILE_SECRET_KEY"), settings.get("TURNSTILE_SITE_KEY"))


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
@public_endpoint
def public_slots(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/calendars/{slug}/slots?start=YYYY-MM-DD&end=YYYY-MM-DD&timezone=Area/City``."""
    from shared.http import json_response, parse_model
    from shared.schemas.bookings import SlotsQuery
    from shared.usecases.availability import list_slots

    _limits().slots_request(_client(req))
    query = parse_model(SlotsQuery, {k: req.params[k] for k in ("start", "end", "timezone") if k in req.params})
    body = list_slots(availability_deps(), req.route_params.get("slug", ""), query.start, query.end, query.timezone)
    check = _challenge()
    return json_response({**body, "human_check": check} if check else body)


@bp.route(route="calendars/{slug}/bookings", methods=["POST", "OPTIONS"], auth_level=_ANON)
@public_endpoint
def public_create_booking(req: func.HttpRequest) -> func.HttpResponse:
    """``POST /api/calendars/{slug}/bookings`` with ``{"start", "name", "email", "timezone", "notes"?}``."""
    from shared.http import json_response, parse_model, read_json
    from shared.schemas.bookings import BookingIn
    from shared.usecases.booking import BookingRequest, create_booking

    _limits().booking_request(_client(req))
    body = parse_model(BookingIn, read_json(req))
    key = _idempotency_key(req)
    _human_check(req, body)
    request = BookingRequest(body.start_utc, body.name, body.email, body.timezone, body.notes, body.time_format)
    result = create_booking(booking_deps(), req.route_params.get("slug", ""), request, key)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return json_response(result.body, 201, headers)


@bp.route(route="bookings/{id}", methods=["GET", "OPTIONS"], auth_level=_ANON)
@public_endpoint
def public_get_booking(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/bookings/{id}?token=...``."""
    from shared.http import json_response
    from shared.usecases.booking import get_booking

    return json_response(get_booking(booking_deps(), req.route_params.get("id", ""), req.params.get("token")))


@bp.route(route="bookings/{id}/cancel", methods=["POST", "OPTIONS"], auth_level=_ANON)
@public_endpoint
def public_cancel_booking(req: func.HttpRequest) -> func.HttpResponse:
    """``POST /api/bookings/{id}/cancel?token=...``."""
    from shared.http import json_response
    from shared.usecases.booking import cancel_booking

    return json_response(cancel_booking(booking_deps(), req.route_params.get("id", ""), req.params.get("token")))


@bp.route(route="bookings/{id}/reschedule", methods=["POST", "OPTIONS"], auth_level=_ANON)
@public_endpoint
def public_reschedule_booking(req: func.HttpRequest) -> func.HttpResponse:
    """``POST /api/bookings/{id}/reschedule?token=...`` with ``{"start"}``."""
    from shared.http import json_response, parse_model, read_json
    from shared.schemas.bookings import RescheduleIn
    from shared.usecases.booking import reschedule_booking

    body = parse_model(RescheduleIn, read_json(req))
    result = reschedule_booking(booking_deps(), req.route_params.get("id", ""), req.params.get("token"),
                                body.start_utc)
    return json_response(result)
