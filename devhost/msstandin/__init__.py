"""Local stand-in for Microsoft's identity platform and the Microsoft Graph endpoints bookbridge uses.

Dev tooling only (never deployed). See ``README.md`` beside this file::

    from devhost.msstandin import StandIn
    with StandIn(cert_dir=".devcerts") as ms:
        print(ms.authority_host, ms.graph_base_url, ms.ca_bundle_path)
"""
from __future__ import annotations

from .server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, StandIn
from .state import PERSONAL_TENANT_ID, Account, load_accounts

__all__ = ["StandIn", "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "PERSONAL_TENANT_ID", "Account",
           "load_accounts"]
