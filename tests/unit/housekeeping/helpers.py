"""Traffic written by the real writers (rate limiter, connect links, webhook deliveries) on any EntityStore, for
the housekeeping tests on the fake and on Azurite."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import responses

from shared.adapters.rate_limit_store import TableRateLimiter
from shared.adapters.token_cipher import TokenCipher
from shared.domain.connections import AUTH_FLOWS_TABLE, CONNECT_LINKS_TABLE
from shared.domain.rate_limits import COUNTERS_TABLE, Limit
from shared.repositories import webhooks as webhook_repo
from shared.repositories.workspaces import put_workspace
from shared.usecases import booking_events, webhooks
from shared.usecases.connections import create_connect_link, open_connect_link
from shared.usecases.webhooks import DELIVERIES_QUEUE, EVENTS_QUEUE, WebhookDeps
from tests.fakes import FixedClock, InMemoryMessageQueue
from tests.unit.connections.helpers import make_deps, seed_user
from tests.unit.webhooks.helpers import RECEIVER, SECRET, Resolving

WS = "acme"
CLIENT = "203.0.113.7"
PER_MINUTE = Limit("RATE_LIMIT_SLOTS_PER_CLIENT", 120, 60)
PER_TEN_MINUTES = Limit("RATE_LIMIT_BOOKINGS_PER_CLIENT", 10, 600)
PER_DAY = Limit("DAILY_TEST_LIMIT", 5, 86400)


class SignInOnly:
    """The one ``Identity`` call opening a connect link makes: MSAL's flow, reduced to its URL."""

    def start_sign_in(self, scopes: list[str], redirect_uri: str, state: str) -> dict[str, Any]:
        return {"auth_uri": f"https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize?state={state}",
                "state": state}


@dataclass
class Traffic:
    """What :func:`write_traffic` left: the limiter (to hit again) and the deps that wrote it."""

    limiter: TableRateLimiter
    hooks: WebhookDeps
    pending_delivery: str
    delivered_delivery: str


def rows(store: Any, table: str) -> list[tuple[str, str]]:
    """Keys of every row of ``table``."""
    return sorted((str(e["PartitionKey"]), str(e["RowKey"])) for e in store.scan(table))


@responses.activate
def write_traffic(store: Any, clock: FixedClock) -> Traffic:
    """At ``clock``'s time: three rate-limit counters (1 min, 10 min, 1 day), two connect links (one opened,
    which also stores its sign-in flow), and two webhook deliveries (one delivered, one pending a retry)."""
    responses.add_passthru("http://127.0.0.1")  # Azurite, when the store is the real one
    limiter = TableRateLimiter(store, clock)
    for limit in (PER_MINUTE, PER_TEN_MINUTES, PER_DAY):
        limiter.hit(limit, CLIENT)
    connections = make_deps(store=store, clock=clock, identity=SignInOnly())
    seed_user(store, WS, "alice")
    create_connect_link(connections, WS, "alice", "teams")
    opened = create_connect_link(connections, WS, "alice", "teams")["url"].rsplit("/", 1)[1]
    assert open_connect_link(connections, opened).redirect_to
    hooks = WebhookDeps(store=store, queue=InMemoryMessageQueue(), clock=clock,
                        cipher=TokenCipher([TokenCipher.generate_key()]), transport=Resolving())
    put_workspace(store, WS, "Acme", "2026-11-23T08:00:00Z")
    webhooks.put_webhook(hooks, WS, "ok", RECEIVER, ["booking.cancelled"], SECRET)
    webhooks.put_webhook(hooks, WS, "down", RECEIVER + "/down", ["booking.cancelled"], SECRET)
    responses.post(RECEIVER, status=200)
    responses.post(RECEIVER + "/down", status=503)
    booking_events.booking_cancelled(hooks.queue, WS, "alice", "c" * 32, 1)
    assert webhooks.handle_event_message(hooks, hooks.queue.on(EVENTS_QUEUE)[0]) == "fanned out to 2"
    by_hook = {m["webhook"]: m for m in hooks.queue.on(DELIVERIES_QUEUE)}
    assert webhooks.handle_delivery_message(hooks, by_hook["ok"]) == "delivered"
    assert webhooks.handle_delivery_message(hooks, by_hook["down"]) == "retrying"
    return Traffic(limiter, hooks, by_hook["down"]["delivery"], by_hook["ok"]["delivery"])


def counts(store: Any) -> dict[str, int]:
    """Rows per looked-after table, the deliveries split into state rows and attempt rows."""
    deliveries = rows(store, webhook_repo.DELIVERIES)
    return {COUNTERS_TABLE: len(rows(store, COUNTERS_TABLE)), AUTH_FLOWS_TABLE: len(rows(store, AUTH_FLOWS_TABLE)),
            CONNECT_LINKS_TABLE: len(rows(store, CONNECT_LINKS_TABLE)),
            "delivery states": sum(1 for _, rk in deliveries if rk.startswith(webhook_repo.DELIVERY_PREFIX)),
            "attempts": sum(1 for _, rk in deliveries if rk.startswith(webhook_repo.ATTEMPT_PREFIX))}
