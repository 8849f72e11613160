"""The error hierarchy of bookbridge, drawn in one place.

Every failure is either *permanent* (retrying the same thing cannot succeed:
bad input, a missing setting, a revoked grant) or *transient* (a dependency is
busy or down: retry later, ideally after ``retry_after`` seconds). Adapters
translate library errors into these at the boundary; use cases and handlers
only ever see these classes.
"""
from __future__ import annotations


class BookbridgeError(Exception):
    """Base of every error raised on purpose by bookbridge."""

    code: str = "error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        if code:
            self.code = code


# --------------------------------------------------------------------- permanent
class PermanentError(BookbridgeError):
    """Retrying the same operation cannot succeed."""

    code = "permanent"


class ValidationError(PermanentError):
    """Bad input: names the field and the reason."""

    code = "validation_error"

    def __init__(self, field: str, reason: str, *, errors: list[dict] | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.errors = errors or [{"field": field, "reason": reason}]


class PayloadTooLarge(ValidationError):
    """The request body is larger than a public route accepts (HTTP 413, refused before parsing)."""

    code = "payload_too_large"


class RateLimited(PermanentError):
    """A rate limit was reached (HTTP 429 with ``Retry-After``); ``limit`` names the setting."""

    code = "rate_limited"

    def __init__(self, message: str, *, limit: str, retry_after: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after = max(1, int(retry_after))


class NotFound(PermanentError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    code = "not_found"


class Conflict(PermanentError):
    """The request conflicts with the current state (e.g. a slot already taken)."""

    code = "conflict"


class ConfigurationError(PermanentError):
    """A required setting is missing or malformed."""

    code = "configuration_error"


class AuthorizationFailed(PermanentError):
    """A sign-in or consent step failed or was refused (bad state, personal account, declined)."""

    code = "authorization_failed"


class ReauthRequired(PermanentError):
    """The connection's refresh failed: the host must connect again (status ``needs_reauth``)."""

    code = "needs_reauth"

    def __init__(self, message: str = "", *, reason: str = "", consent_required: bool = False) -> None:
        super().__init__(message or "The Microsoft connection must be renewed.")
        self.reason = reason or self.message
        self.consent_required = consent_required


class NotConnected(PermanentError):
    """There is no ``connected`` connection of the needed kind."""

    code = "not_connected"


class TeamsUnavailable(PermanentError):
    """The Microsoft account cannot create Teams meetings (no licence or not allowed)."""

    code = "teams_unavailable"


class GraphRejected(PermanentError):
    """Microsoft Graph refused the request for a reason retrying will not fix."""

    code = "graph_rejected"

    def __init__(self, message: str = "", *, status: int = 0, graph_code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.graph_code = graph_code


class GoogleRejected(PermanentError):
    """Google Calendar refused the request for a reason retrying will not fix (``reason``: Google's)."""

    code = "google_rejected"

    def __init__(self, message: str = "", *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class DeliveryRejected(PermanentError):
    """A message could not be delivered for a permanent reason (e.g. a bad address)."""

    code = "delivery_rejected"


class UndecryptableSecret(PermanentError):
    """A stored secret cannot be decrypted with any configured key (tampered, or its key removed)."""

    code = "undecryptable_secret"


class SlotTaken(Exception):
    """A lock transaction found the time taken (internal to booking, which answers a ``Conflict``)."""


# --------------------------------------------------------------------- transient
class TransientError(BookbridgeError):
    """A dependency is busy or unavailable; retry later (after ``retry_after`` seconds if known)."""

    code = "transient"

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Throttled(TransientError):
    """The dependency asked us to slow down (HTTP 429/503/504 with ``Retry-After``)."""

    code = "throttled"


class GoogleThrottled(Throttled):
    """Google Calendar asked us to slow down or did not answer (429, 5xx, rate-limit 403, a network error)."""

    code = "google_throttled"


class StorageUnavailable(TransientError):
    """Table or Queue storage did not answer."""

    code = "storage_unavailable"


class ConcurrencyConflict(TransientError):
    """An ETag-conditional write lost a race; re-read and try again."""

    code = "concurrency_conflict"


class GraphUnauthorized(TransientError):
    """Graph answered 401: the access token was refused; refresh once and retry."""

    code = "graph_unauthorized"


# --------------------------------------------------------------------- storage
class EntityExists(Exception):
    """An insert found the entity already there (also raised by a transaction that hits one).

    Not a :class:`BookbridgeError`: callers always handle it (it is how a conditional insert answers).
    """

    def __init__(self, table: str, partition_key: str, row_key: str | None = None) -> None:
        super().__init__(f"entity exists in {table}")
        self.table = table
        self.partition_key = partition_key
        self.row_key = row_key


class GoogleUnauthorized(TransientError):
    """Google Calendar answered 401 (the access token was refused): refresh the token once."""

    code = "google_unauthorized"
