"""azd ``preprovision`` hook: make sure the azd environment holds every secret the template needs.

* ``MICROSOFT_CLIENT_ID`` / ``MICROSOFT_CLIENT_SECRET`` come from the Entra app registration
  (docs/deploy.md, step 2): when missing, stop with the command that sets them.
* ``TOKEN_ENCRYPTION_KEYS`` / ``LINK_SIGNING_KEY`` are generated once when missing (``azd env set``)
  and checked when present, so a bad edit during a key rotation fails here, before Azure is touched.
* With ``ENABLE_ACS_EMAIL=false`` an SMTP relay (``SMTP_HOST``, ``MAIL_FROM``) is required.

Standard library only: it runs with the operator's ``python3``, outside the project's virtualenv.
Values are never printed, only names.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Mapping

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_FALSE = {"false", "0", "no", "off"}


def _cli_safe(make: Callable[[], str]) -> str:
    """A generated value that cannot be mistaken for a command-line option (no leading '-')."""
    while True:
        value = make()
        if value[0].isalnum():
            return value


def generate_fernet_key() -> str:
    """A new Fernet key: 32 random bytes, url-safe base64 (what ``Fernet.generate_key()`` returns)."""
    return _cli_safe(lambda: base64.urlsafe_b64encode(os.urandom(32)).decode("ascii"))


def generate_signing_key() -> str:
    """A new link-signing key: 48 random bytes, url-safe text (64 characters)."""
    return _cli_safe(lambda: secrets.token_urlsafe(48))


def fernet_key_problem(key: str) -> str | None:
    """Why ``key`` is not a Fernet key, or ``None`` when it is one."""
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return "is not url-safe base64"
    if len(raw) != 32:
        return f"decodes to {len(raw)} bytes, not 32"
    return None


def check_environment(env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """``(values to generate, problems)`` for the azd environment ``env``."""
    generate: dict[str, str] = {}
    problems: list[str] = []

    client_id = (env.get("MICROSOFT_CLIENT_ID") or "").strip()
    if not client_id:
        problems.append(
            "MICROSOFT_CLIENT_ID is not set: register the Entra app (docs/deploy.md, step 2), then "
            "`azd env set MICROSOFT_CLIENT_ID <application (client) id>`"
        )
    elif not _GUID.match(client_id):
        problems.append("MICROSOFT_CLIENT_ID must be the application (client) id, a GUID")
    if not (env.get("MICROSOFT_CLIENT_SECRET") or "").strip():
        problems.append(
            "MICROSOFT_CLIENT_SECRET is not set: create a client secret on the Entra app, then "
            "`azd env set MICROSOFT_CLIENT_SECRET <secret value>`"
        )

    keys_text = (env.get("TOKEN_ENCRYPTION_KEYS") or "").strip()
    if not keys_text:
        generate["TOKEN_ENCRYPTION_KEYS"] = generate_fernet_key()
    else:
        keys = [k.strip() for k in keys_text.split(",")]
        for position, key in enumerate(keys, start=1):
            problem = "is empty" if not key else fernet_key_problem(key)
            if problem:
                problems.append(f"TOKEN_ENCRYPTION_KEYS: key {position} {problem}")

    signing = env.get("LINK_SIGNING_KEY") or ""
    if not signing.strip():
        generate["LINK_SIGNING_KEY"] = generate_signing_key()
    elif len(signing) < 16:
        problems.append("LINK_SIGNING_KEY must be at least 16 characters")

    if (env.get("ENABLE_ACS_EMAIL") or "true").strip().lower() in _FALSE:
        for name in ("SMTP_HOST", "MAIL_FROM"):
            if not (env.get(name) or "").strip():
                problems.append(f"ENABLE_ACS_EMAIL is false, so {name} is required (your SMTP relay)")
    return generate, problems


def main() -> int:
    generate, problems = check_environment(os.environ)
    if problems:
        print("bookbridge preprovision: the azd environment is not ready:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    for name, value in generate.items():
        subprocess.run(["azd", "env", "set", name, value], check=True)
        print(f"bookbridge preprovision: generated {name} and stored it in the azd environment")
    print("bookbridge preprovision: secrets present and well-formed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
