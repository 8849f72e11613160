"""Google's OAuth callback for a ``google_calendar`` connection: redeem the code (PKCE), check the id token's
account and the granted scopes, store the refresh token sealed in the slot's own ``tokencaches`` row and mark
the slot ``connected`` (the same steps as Microsoft's callback, ``sign_in``)."""
from __future__ import annotations

import logging
from collections.abc import Mapping

from shared.domain import connections as rules
from shared.domain import google
from shared.domain.model import ConnectionKind
from shared.ports import iso_utc
from shared.usecases.connections.browser import OTHER_BROWSER, other_browser
from shared.usecases.connections.deps import Deps, claim_once
from shared.usecases.connections.links import BAD_STATE, BrowserResult, page
from shared.usecases.connections.sign_in import _connect, _Flow, _redeem, read_provider_flow

log = logging.getLogger("bookbridge.connections")


def complete_google_sign_in(deps: Deps, params: Mapping[str, str], browser: str | None = None) -> BrowserResult:
    """``/api/auth/google/callback``: a missing, unknown, replayed or expired ``state`` (or one of a Microsoft
    sign-in) is refused with nothing stored; Google's ``error`` (consent declined) ends in a result page."""
    row, problem = read_provider_flow(deps, str(params.get("state") or ""), microsoft=False)
    if row is None:
        log.warning("google sign-in callback refused: %s", problem)
        return page(False, *BAD_STATE, 400, reason="invalid_state")
    if not claim_once(deps.store, rules.AUTH_FLOWS_TABLE, row, iso_utc(deps.clock.now()), flow=""):
        log.warning("google sign-in callback refused: state_used (concurrent)")
        return page(False, *BAD_STATE, 400, reason="invalid_state")
    if other_browser(row, browser):
        log.warning("google sign-in callback refused: finished in another browser")
        return page(False, *OTHER_BROWSER, 400, reason="other_browser")
    flow = _Flow(row["ws"], row["user"], ConnectionKind.GOOGLE_CALENDAR, row.get("return_url") or None)
    result = _redeem(deps, flow, row, params)
    if isinstance(result, BrowserResult):
        return result
    check = google.check_account(result.claims, str(getattr(deps.google_identity, "client_id", "")),
                                 deps.clock.now().timestamp())
    if check.account is None:
        log.warning("google sign-in refused %s reason=%s", flow.ids, check.refusal)
        return flow.refused("Not connected", check.message, 400, check.refusal)
    missing = google.missing_scopes(result.scopes)
    if missing:
        log.warning("google sign-in refused %s reason=scopes_missing missing=%d", flow.ids, len(missing))
        return flow.refused("Permissions missing", google.MISSING_SCOPES_MESSAGE, 400, "consent_required")
    scopes = [s for s in result.scopes if s not in google.SIGN_IN_SCOPES]
    outcome = _connect(deps, flow.ws, flow.user, flow.kind, check.account, scopes, result.cache)
    log.info("connected %s generation=%s transition=%s replaced=%s", flow.ids,
             outcome.entity["connected_generation"], outcome.transitioned, outcome.replaced)
    return page(True, "Connected", "Your Google Calendar connection is ready. You can close this page.", 200,
                kind=flow.kind.value, return_url=flow.return_url)
