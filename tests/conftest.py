"""Session-wide fixtures shared by every test folder: real storage (Azurite) on free ports.

Set ``BOOKBRIDGE_TEST_STORAGE`` to a connection string to use storage that is already running
instead of starting Azurite. Folder-specific fixtures belong in that folder's own conftest.py.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite, ExternalStorage, start_azurite

STORAGE_ENV = "BOOKBRIDGE_TEST_STORAGE"


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite | ExternalStorage]:
    """Storage for the session; ``AzureWebJobsStorage`` points at it while the session runs."""
    given = os.environ.get(STORAGE_ENV)
    storage: Azurite | ExternalStorage
    storage = ExternalStorage(given) if given else start_azurite(tmp_path_factory.mktemp("azurite"))
    previous = os.environ.get("AzureWebJobsStorage")
    os.environ["AzureWebJobsStorage"] = storage.connection_string
    try:
        yield storage
    finally:
        if previous is None:
            os.environ.pop("AzureWebJobsStorage", None)
        else:
            os.environ["AzureWebJobsStorage"] = previous
        storage.stop()


@pytest.fixture(scope="session")
def storage_connection_string(azurite: Azurite | ExternalStorage) -> str:
    """The session storage's connection string."""
    return azurite.connection_string
