"""Housekeeping on real Table storage, through the local Functions host's timer like the real host runs it.

It has an Azurite of its own: a housekeeping run scans whole tables, and the session's storage holds every
other test's rows.
"""
from __future__ import annotations

from collections.abc import Iterator

import azure.functions as func
import pytest

from devhost.azurite import Azurite, start_azurite
from shared import bootstrap
from shared.domain.connections import AUTH_FLOWS_TABLE, CONNECT_LINKS_TABLE
from shared.domain.rate_limits import COUNTERS_TABLE
from shared.settings import Settings
from tests.fakes import FixedClock
from tests.unit.housekeeping.helpers import counts, write_traffic
from tests.unit.housekeeping.test_housekeeping import T0


@pytest.fixture(scope="module")
def own_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    storage = start_azurite(tmp_path_factory.mktemp("azurite-housekeeping"))
    try:
        yield storage
    finally:
        storage.stop()


def test_the_timer_prunes_what_the_writers_left_on_azurite(own_azurite: Azurite) -> None:
    from azure.data.tables import TableServiceClient

    from devhost.functions_host import FunctionsHost
    from functions import housekeeping
    from shared.adapters.table_store import TableEntityStore

    conn = own_azurite.connection_string
    store, clock = TableEntityStore(TableServiceClient.from_connection_string(conn)), FixedClock(T0)
    write_traffic(store, clock)
    assert counts(store) == {COUNTERS_TABLE: 3, AUTH_FLOWS_TABLE: 1, CONNECT_LINKS_TABLE: 2,
                             "delivery states": 2, "attempts": 2}
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(housekeeping.bp)
    bootstrap.install(bootstrap.Container(settings=Settings({"AzureWebJobsStorage": conn}), store=store,
                                          clock=clock))
    host = FunctionsHost(app, settings={"AzureWebJobsStorage": conn}, port=0)
    try:
        assert host.errors == {} and "housekeeping_timer" in host.functions
        clock.advance(days=2)
        invocation = host.run_timer_now("housekeeping_timer")
        assert invocation.ok, invocation.error
        assert counts(store) == {COUNTERS_TABLE: 0, AUTH_FLOWS_TABLE: 0, CONNECT_LINKS_TABLE: 0,
                                 "delivery states": 2, "attempts": 2}
        clock.advance(days=30)
        assert host.run_timer_now("housekeeping_timer").ok
        assert counts(store) == {COUNTERS_TABLE: 0, AUTH_FLOWS_TABLE: 0, CONNECT_LINKS_TABLE: 0,
                                 "delivery states": 1, "attempts": 0}
    finally:
        host.stop()
        bootstrap.install(None)
