"""The management API of webhooks: validation naming the field, the write-only encrypted secret, limits."""
from __future__ import annotations

import pytest

from shared.errors import Conflict, NotFound, ValidationError
from shared.repositories import webhooks as repo
from shared.usecases import webhooks
from tests.unit.webhooks.helpers import RECEIVER, SECRET, make_deps

EVENTS = ["booking.created", "meeting_link.created"]


def test_put_get_delete_and_the_secret_never_comes_back() -> None:
    deps = make_deps()
    view, created = webhooks.put_webhook(deps, "acme", "crm", RECEIVER, EVENTS, SECRET)
    assert created and view["url"] == RECEIVER and view["events"] == EVENTS and view["secret_set"] is True
    assert SECRET not in repr(view) and SECRET not in repr(webhooks.get_webhook(deps, "acme", "crm"))
    stored = deps.store.get(repo.WEBHOOKS, "acme", "crm")
    assert stored is not None and SECRET not in repr(stored)
    assert deps.cipher.decrypt(stored["secret"]) == SECRET  # encrypted at rest with the project's cipher
    view, created = webhooks.put_webhook(deps, "acme", "crm", RECEIVER + "/v2", ["booking.cancelled"], None)
    assert not created and view["url"] == RECEIVER + "/v2"
    assert deps.cipher.decrypt(deps.store.get(repo.WEBHOOKS, "acme", "crm")["secret"]) == SECRET  # kept
    webhooks.delete_webhook(deps, "acme", "crm")
    with pytest.raises(NotFound):
        webhooks.get_webhook(deps, "acme", "crm")


@pytest.mark.parametrize(("url", "events", "secret", "field"), [
    ("http://hooks.example.com/x", EVENTS, SECRET, "url"),
    ("https://10.0.0.7/x", EVENTS, SECRET, "url"),
    (RECEIVER, ["booking.deleted"], SECRET, "events"),
    (RECEIVER, [], SECRET, "events"),
    (RECEIVER, EVENTS, None, "secret"),
    (RECEIVER, EVENTS, "short", "secret"),
])
def test_bad_input_names_the_field_and_stores_nothing(url: str, events: list[str], secret: str | None,
                                                      field: str) -> None:
    deps = make_deps()
    with pytest.raises(ValidationError) as err:
        webhooks.put_webhook(deps, "acme", "crm", url, events, secret)
    assert err.value.field == field
    assert deps.store.get(repo.WEBHOOKS, "acme", "crm") is None


def test_http_and_loopback_are_allowed_in_local_development() -> None:
    deps = make_deps(local=True)
    view, _ = webhooks.put_webhook(deps, "acme", "local", "http://127.0.0.1:9999/hook", EVENTS, SECRET)
    assert view["url"] == "http://127.0.0.1:9999/hook"


def test_a_workspace_has_at_most_ten_webhooks_and_ids_are_checked() -> None:
    deps = make_deps()
    for i in range(10):
        webhooks.put_webhook(deps, "acme", f"h{i}", RECEIVER, EVENTS, SECRET)
    with pytest.raises(Conflict):
        webhooks.put_webhook(deps, "acme", "h10", RECEIVER, EVENTS, SECRET)
    webhooks.put_webhook(deps, "acme", "h3", RECEIVER, EVENTS, None)  # replacing one is fine
    with pytest.raises(ValidationError) as err:
        webhooks.put_webhook(deps, "acme", "bad|id", RECEIVER, EVENTS, SECRET)
    assert err.value.field == "webhook"
    with pytest.raises(NotFound):
        webhooks.put_webhook(deps, "nobody", "h1", RECEIVER, EVENTS, SECRET)
    with pytest.raises(NotFound):
        webhooks.list_deliveries(deps, "acme", "missing")
