"""What every endpoint module gets: the state, the signing key, the Graph contract, the base URL."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devhost.graph_contract import GraphContract

    from .idtokens import SigningKey
    from .state import State


@dataclass
class Context:
    """Shared services of one stand-in instance."""

    state: State
    key: SigningKey
    contract: GraphContract
    base_url: str = ""

    @property
    def graph_base_url(self) -> str:
        """``https://127.0.0.1:PORT/v1.0``."""
        return f"{self.base_url}/v1.0"
