"""azd ``postprovision`` hook: print what to do next with the names azd just stored (no secrets)."""
from __future__ import annotations

import os
import sys


def next_steps(env: dict[str, str]) -> str:
    """The text printed after provisioning (pure: takes the azd environment)."""
    app = env.get("FUNCTION_APP_NAME", "<function app>")
    callback = env.get("MICROSOFT_REDIRECT_URI", "<public base url>/api/auth/microsoft/callback")
    consent = env.get(
        "MICROSOFT_ADMIN_CONSENT_REDIRECT_URI", "<public base url>/api/auth/microsoft/admin-consent/callback"
    )
    client_id = env.get("MICROSOFT_CLIENT_ID", "<client id>")
    return "\n".join(
        [
            f"bookbridge: provisioned function app {app} ({env.get('FUNCTION_APP_URL', '')})",
            "The Entra app registration must list exactly these Web redirect URIs (docs/deploy.md, step 5):",
            f"  {callback}",
            f"  {consent}",
            "With the Azure CLI:",
            f"  az ad app update --id {client_id} --web-redirect-uris {callback} {consent}",
            f"Key Vault: {env.get('KEY_VAULT_NAME', '')}   Storage account: {env.get('STORAGE_ACCOUNT_NAME', '')}",
        ]
    )


if __name__ == "__main__":
    print(next_steps(dict(os.environ)))
    sys.exit(0)
