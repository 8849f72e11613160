"""How the app reaches its storage account: a connection string locally, a managed identity in Azure."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.errors import ConfigurationError
from shared.settings import Settings

#: A function fails fast and lets its queue retry, rather than riding the SDK's long default back-off.
DEFAULT_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 3, "connection_timeout": 10, "read_timeout": 30}

#: For HTTP request paths (intake, manage): at most two attempts with short timeouts, so that an outage is
#: answered 503 + Retry-After within seconds (every storage call: <= 2 x (1 s + 3 s) + 0.8 s back-off).
REQUEST_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 1, "connection_timeout": 1, "read_timeout": 3}

#: The queue client of request paths: the same, and the Storage SDK's own back-off before its retry brought down
#: from 15 s (``ExponentialRetry``: ``initial_backoff`` 15, jitter 3; a booking made while the queue service was
#: down answered 503 after 16 s) to well under a second.
REQUEST_QUEUE_CLIENT_OPTIONS: dict[str, Any] = {**REQUEST_CLIENT_OPTIONS, "initial_backoff": 0.5,
                                                "random_jitter_range": 0.3}

#: For probes (health): one attempt, short timeouts.
PROBE_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 0, "connection_timeout": 3, "read_timeout": 5}


@dataclass(frozen=True)
class StorageAccount:
    """Either a connection string or an account name (reached with ``DefaultAzureCredential``)."""

    connection_string: str | None = None
    account_name: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> StorageAccount:
        """``AzureWebJobsStorage`` if set, else ``AzureWebJobsStorage__accountName``."""
        conn = settings.get("AzureWebJobsStorage")
        if conn:
            return cls(connection_string=conn)
        name = settings.get("AzureWebJobsStorage__accountName")
        if name:
            return cls(account_name=name)
        raise ConfigurationError(
            "setting AzureWebJobsStorage (connection string) or AzureWebJobsStorage__accountName is required"
        )

    def _credential(self) -> Any:
        from azure.identity import DefaultAzureCredential  # heavy: only in Azure

        return DefaultAzureCredential()

    def table_service(self, **client_options: Any) -> Any:
        """An ``azure.data.tables.TableServiceClient`` (``client_options``: e.g. ``retry_total``)."""
        from azure.data.tables import TableServiceClient

        options = {**DEFAULT_CLIENT_OPTIONS, **client_options}
        if self.connection_string:
            return TableServiceClient.from_connection_string(self.connection_string, **options)
        return TableServiceClient(
            endpoint=f"https://{self.account_name}.table.core.windows.net", credential=self._credential(),
            **options,
        )

    def queue_service(self, **client_options: Any) -> Any:
        """An ``azure.storage.queue.QueueServiceClient`` (``client_options``: e.g. ``retry_total``)."""
        from azure.storage.queue import QueueServiceClient

        options = {**DEFAULT_CLIENT_OPTIONS, **client_options}
        if self.connection_string:
            return QueueServiceClient.from_connection_string(self.connection_string, **options)
        return QueueServiceClient(
            account_url=f"https://{self.account_name}.queue.core.windows.net", credential=self._credential(),
            **options,
        )
