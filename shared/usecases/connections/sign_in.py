"""The OAuth callback: redeem the code, check the account (rule 5), store the encrypted token cache and
mark the slot ``connected`` (rule 6), recording ``teams`` transitions for the backfill sweep."""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain import connections as rules
from shared.domain.model import ConnectionKind
from shared.errors import (
    AuthorizationFailed,
    ConcurrencyConflict,
    NotFound,
    PermanentError,
    TransientError,
)
from shared.ports import EntityExists, iso_utc
from shared.repositories.optimistic import optimistic_update
from shared.usecases import mailbox_address
from shared.usecases.connections.browser import OTHER_BROWSER, other_browser
from shared.usecases.connections.calendars import check_linked_calendar
from shared.usecases.connections.deps import (
    MAX_STATE_LENGTH,
    Deps,
    claim_once,
    expired,
    identity_for,
    kind_of,
    provider_of,
    sha256_hex,
)
from shared.usecases.connections.links import BAD_STATE, BrowserResult, page
from shared.usecases.connections.tokens import evict_token
from shared.usecases.webhooks import emit as webhook_events

log = logging.getLogger("bookbridge.connections")


def read_flow(deps: Deps, row_key: str, state: str) -> tuple[dict[str, Any] | None, str]:
    if not state or len(state) > MAX_STATE_LENGTH:
        return None, "state_missing"
    row = deps.store.get(rules.AUTH_FLOWS_TABLE, sha256_hex(state), row_key)
    if row is None:
        return None, "state_unknown"
    if row.get("used"):
        return None, "state_used"
    if expired(row, deps.clock.now()):
        return None, "state_expired"
    return row, ""


def read_provider_flow(deps: Deps, state: str, *, microsoft: bool) -> tuple[dict[str, Any] | None, str]:
    """:func:`read_flow` of a sign-in at Microsoft (``microsoft``) or Google: another provider's is refused."""
    row, problem = read_flow(deps, rules.FLOW_ROW, state)
    if row is not None and kind_of(row["kind"]).is_microsoft != microsoft:
        return None, "state_of_another_provider"
    return row, problem


def complete_sign_in(deps: Deps, params: Mapping[str, str], browser: str | None = None) -> BrowserResult:
    """``/api/auth/microsoft/callback``: redeem the code, check the account, store tokens, mark connected.

    A missing, unknown, replayed or expired ``state`` is refused (400) and nothing is stored; so is a
    personal Microsoft account. Microsoft's own ``error`` ends in a result naming the reason (consent
    required offers the admin-consent path).
    """
    row, problem = read_provider_flow(deps, str(params.get("state") or ""), microsoft=True)
    if row is None:
        log.warning("sign-in callback refused: %s", problem)
        return page(False, *BAD_STATE, 400, reason="invalid_state")
    now = deps.clock.now()
    if not claim_once(deps.store, rules.AUTH_FLOWS_TABLE, row, iso_utc(now), flow=""):
        log.warning("sign-in callback refused: state_used (concurrent)")
        return page(False, *BAD_STATE, 400, reason="invalid_state")
    if other_browser(row, browser):
        log.warning("sign-in callback refused: finished in another browser")
        return page(False, *OTHER_BROWSER, 400, reason="other_browser")
    flow = _Flow(row["ws"], row["user"], kind_of(row["kind"]), row.get("return_url") or None)
    result = _redeem(deps, flow, row, params)
    if isinstance(result, BrowserResult):
        return result
    check = rules.check_account(result.claims)
    if check.account is None:
        log.warning("sign-in refused %s reason=%s", flow.ids, check.refusal)
        title = "Work or school account required" if check.refusal == "personal_account" else "Not connected"
        return flow.refused(title, check.message, 400, check.refusal)
    scopes = _granted_scopes(flow, result)
    if isinstance(scopes, BrowserResult):
        return scopes
    calendar = flow.kind is ConnectionKind.MICROSOFT_CALENDAR  # free/busy (rule 23) needs its mailbox address
    mailbox = mailbox_address.read_at_sign_in(deps.mailbox_reader, result.access_token) if calendar else ""
    outcome = _connect(deps, flow.ws, flow.user, flow.kind, check.account, scopes, result.cache, mailbox)
    if calendar:  # rule 26: does the linked calendar allow Teams?
        check_linked_calendar(deps, flow.ws, flow.user, token=result.access_token)
    log.info("connected %s generation=%s transition=%s replaced=%s", flow.ids,
             outcome.entity["connected_generation"], outcome.transitioned, outcome.replaced)
    label = "Microsoft Teams" if flow.kind is ConnectionKind.TEAMS else "Microsoft calendar"
    return page(True, "Connected", f"Your {label} connection is ready. You can close this page.", 200,
                kind=flow.kind.value, return_url=flow.return_url)


@dataclass(frozen=True)
class _Flow:
    """The sign-in a callback completes: whose slot, and where the browser goes back to."""

    ws: str
    user: str
    kind: ConnectionKind
    return_url: str | None

    @property
    def ids(self) -> str:
        """The flow's ids, for logs."""
        return f"ws={self.ws} user={self.user} kind={self.kind.value}"

    def refused(self, title: str, message: str, status: int, reason: str | None,
                extra: Mapping[str, str] | None = None) -> BrowserResult:
        """The sign-in ends without a connection."""
        return page(False, title, message, status, reason=reason, kind=self.kind.value, return_url=self.return_url,
                    extra=extra)


def _granted_scopes(flow: _Flow, result: rules.SignInResult) -> list[str] | BrowserResult:
    """The scopes Microsoft granted (rule 26: not what was asked for); a refusal when some are missing."""
    scopes = [s for s in result.scopes if s.lower() not in {"openid", "profile", "offline_access", "email"}]
    missing = rules.missing_scopes(flow.kind, scopes)
    if missing:
        log.warning("sign-in refused %s reason=consent_required missing=%s", flow.ids, ",".join(missing))
        return flow.refused("Administrator approval needed", rules.consent_missing_message(missing), 400,
                            "consent_required", {"admin_consent": "required"})
    return scopes


def _redeem(deps: Deps, flow: _Flow, row: Mapping[str, Any],
            params: Mapping[str, str]) -> rules.SignInResult | BrowserResult:
    """Microsoft's (or Google's) answer redeemed with the stored flow, or how the sign-in ends without it."""
    provider = provider_of(flow.kind)
    if params.get("error") and not flow.kind.is_microsoft:
        log.info("sign-in ended by Google %s reason=%s", flow.ids, str(params.get("error"))[:64])
        return flow.refused("Not connected", "Google did not give access (the sign-in was cancelled or refused). "
                            "Start the connection again.", 400, "access_denied")
    if params.get("error"):
        err = rules.classify_callback_error(str(params.get("error")), str(params.get("error_description") or ""))
        log.info("sign-in ended by Microsoft %s reason=%s", flow.ids, err.reason)
        extra = {"admin_consent": "required"} if err.admin_consent else None
        return flow.refused("Not connected", err.message, 400, err.reason, extra)
    if not params.get("code"):
        return flow.refused("Not connected", f"{provider} returned no authorization code. Start the connection "
                            "again.", 400, "sign_in_failed")
    try:
        stored = json.loads(deps.cipher.decrypt(row["flow"]))
        result: rules.SignInResult = identity_for(deps, flow.kind).finish_sign_in(
            stored, {k: str(v) for k, v in params.items()})
    except TransientError:
        log.warning("sign-in could not be completed (transient) %s", flow.ids)
        return flow.refused(f"{provider} is not answering", f"{provider} could not be reached to finish the "
                            "sign-in. Start the connection again in a moment.", 503, "temporarily_unavailable")
    except (AuthorizationFailed, PermanentError) as exc:
        log.warning("sign-in refused %s code=%s", flow.ids, exc.code)
        return flow.refused("Not connected", f"{provider} could not complete the sign-in. Start the connection "
                            "again.", 400, "sign_in_failed")
    return result


def _connect(deps: Deps, ws: str, user: str, kind: ConnectionKind, account: rules.MicrosoftAccount,
             scopes: list[str], cache_text: str, mailbox: str = "") -> rules.ConnectOutcome:
    """Store the account's tokens and mark the slot connected (ETag-guarded, retried on a lost race)."""
    store = deps.store
    pk = rules.connection_pk(ws, user)
    now = iso_utc(deps.clock.now())
    # The new cache replaces whatever the slot held (a different account's tokens are gone with it).
    store.upsert(rules.TOKEN_CACHES_TABLE, {
        "PartitionKey": pk, "RowKey": kind.value, "cache": deps.cipher.encrypt(cache_text),
        "account_oid": account.oid, "account_tid": account.tid, "updated_at": now,
    })

    def write(previous: dict[str, Any] | None) -> rules.ConnectOutcome:
        outcome = rules.connect(previous, workspace=ws, user=user, kind=kind, account=account, scopes=scopes, now=now)
        outcome.entity["mailbox"] = mailbox  # rule 23 ("" until read: availability fills it in)
        if outcome.transitioned and kind is ConnectionKind.TEAMS:
            # recorded first: a spurious row (lost race) only makes the sweep look once more
            try:
                store.insert(rules.TRANSITIONS_TABLE, rules.transition_row(outcome.entity))
            except EntityExists:
                pass
        if previous is None:
            store.insert(rules.CONNECTIONS_TABLE, outcome.entity)
        else:
            store.update(rules.CONNECTIONS_TABLE, outcome.entity, previous.get("_etag"))
        return outcome

    outcome = optimistic_update(lambda: store.get(rules.CONNECTIONS_TABLE, pk, kind.value), write,
                                what="the connection", races=(EntityExists, ConcurrencyConflict, NotFound))
    evict_token(deps, ws, user, kind)  # a new sign-in: the slot's tokens are new (the status check covers others)
    if outcome.transitioned:  # any kind (rule 16): the host's bookings are repaired at once
        _notify_backfill(deps, ws, user, kind)
    if kind is ConnectionKind.MICROSOFT_CALENDAR:  # rule 19: a subscription on the host's events (again)
        _notify_inbound(deps, ws, user)
        webhook_events.connection_event(deps.queue, "connection.connected", outcome.entity, store=deps.store)
    return outcome


def _notify_backfill(deps: Deps, ws: str, user: str, kind: ConnectionKind) -> None:
    try:
        queue = deps.queue
        if queue is None:
            raise RuntimeError("no queue configured")
        queue.send(rules.BACKFILL_QUEUE, {"workspace": ws, "host": user, "reason": "reconnected",
                                          "kind": kind.value})
    except Exception as exc:  # noqa: BLE001 - the timer sweep is the guarantee
        log.warning("backfill message not sent ws=%s user=%s: %s", ws, user, type(exc).__name__)


def _notify_inbound(deps: Deps, ws: str, user: str) -> None:
    from shared.usecases.inbound.deps import INBOUND_QUEUE

    try:
        if deps.queue is None:
            raise RuntimeError("no queue configured")
        deps.queue.send(INBOUND_QUEUE, {"op": "subscribe", "workspace": ws, "user": user})
    except Exception as exc:  # noqa: BLE001 - the next sign-in or a renewal tries again
        log.warning("inbound subscribe message not sent ws=%s user=%s: %s", ws, user, type(exc).__name__)
