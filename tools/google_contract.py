"""Extract the parts of Google Calendar v3's discovery document bookbridge uses into a contract file.

Google publishes Calendar v3 as a discovery document; google-api-python-client ships a copy in its package
data (``googleapiclient/discovery_cache/documents/calendar.v3.json``). This tool keeps only what bookbridge
sends or a stand-in answers: the methods ``freebusy.query`` and ``events.insert|patch|delete|get`` (HTTP
method, path, parameters, request and response schemas, scopes), every schema they reach through ``$ref``,
and the OAuth scopes named. The token endpoint is not in the discovery document: its documented fields
("Using OAuth 2.0 for Web Server Applications", "OpenID Connect") are written here, with their source.

    .venv/bin/python -m tools.google_contract --write     # rewrite the contract file
    .venv/bin/python -m tools.google_contract --check     # exit 1 when the file differs from the package's

Dev tooling only (never deployed); the validator is ``devhost.google_contract``.
"""
from __future__ import annotations

import argparse
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

CONTRACT_PATH = (Path(__file__).resolve().parents[1] / "devhost" / "googlestandin" / "contract"
                 / "calendar-v3-subset.json")
PACKAGE = "google-api-python-client"
DOCUMENT = "googleapiclient/discovery_cache/documents/calendar.v3.json"

#: (resource, method) pairs bookbridge calls.
METHODS = (("freebusy", "query"), ("events", "insert"), ("events", "patch"), ("events", "delete"),
           ("events", "get"))

#: The OAuth 2.0 endpoints' documented fields (not part of the discovery document).
OAUTH: dict[str, Any] = {
    "sources": ["Using OAuth 2.0 for Web Server Applications (developers.google.com/identity/protocols/oauth2/"
                "web-server)", "OpenID Connect (developers.google.com/identity/openid-connect/openid-connect)",
                "RFC 7636 Proof Key for Code Exchange"],
    "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
    "token_endpoint": "https://oauth2.googleapis.com/token",
    "revocation_endpoint": "https://oauth2.googleapis.com/revoke",
    "authorization_request": {
        "required": ["client_id", "redirect_uri", "response_type", "scope"],
        "optional": ["access_type", "state", "include_granted_scopes", "login_hint", "prompt",
                     "code_challenge", "code_challenge_method", "nonce", "enable_granular_consent"],
        "enums": {"response_type": ["code"], "access_type": ["online", "offline"],
                  "code_challenge_method": ["plain", "S256"], "prompt": ["none", "consent", "select_account"]},
    },
    "authorization_response": {"success": ["code", "state", "scope", "authuser", "hd", "prompt"],
                               "error": ["error", "error_description", "state"]},
    "token_request": {
        "authorization_code": {"required": ["client_id", "client_secret", "code", "grant_type", "redirect_uri"],
                               "optional": ["code_verifier"]},
        "refresh_token": {"required": ["client_id", "client_secret", "grant_type", "refresh_token"],
                          "optional": []},
        "grant_types": ["authorization_code", "refresh_token"],
    },
    "token_response": {"fields": ["access_token", "expires_in", "id_token", "refresh_token",
                                  "refresh_token_expires_in", "scope", "token_type"],
                       "required": ["access_token", "expires_in", "token_type"],
                       "token_type": ["Bearer"]},
    "token_error": {"fields": ["error", "error_description"],
                    "errors": ["invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                               "unsupported_grant_type", "invalid_scope"]},
    "id_token_claims": ["iss", "azp", "aud", "sub", "email", "email_verified", "hd", "name", "given_name",
                        "family_name", "picture", "locale", "nonce", "iat", "exp", "at_hash"],
    "id_token_issuers": ["https://accounts.google.com", "accounts.google.com"],
}


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            found.add(node["$ref"])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def package_document() -> tuple[dict[str, Any], str]:
    """The discovery document shipped by the installed google-api-python-client, and its version."""
    dist = metadata.distribution(PACKAGE)
    path = Path(str(dist.locate_file(DOCUMENT)))
    return json.loads(path.read_text(encoding="utf-8")), dist.version


def subset(document: dict[str, Any], version: str) -> dict[str, Any]:
    """The contract: the methods of :data:`METHODS`, the schemas they reach, the scopes they name."""
    methods: dict[str, Any] = {}
    for resource, name in METHODS:
        method = dict(document["resources"][resource]["methods"][name])
        methods[method["id"]] = method
    schemas: dict[str, Any] = {}
    todo = sorted(_refs(methods))
    while todo:
        name = todo.pop()
        if name in schemas:
            continue
        schemas[name] = document["schemas"][name]
        todo.extend(sorted(_refs(schemas[name]) - set(schemas)))
    scopes = sorted({s for m in methods.values() for s in m.get("scopes", ())})
    all_scopes = document["auth"]["oauth2"]["scopes"]
    return {
        "source": {"package": PACKAGE, "version": version, "document": DOCUMENT, "id": document["id"],
                   "revision": document["revision"], "rootUrl": document["rootUrl"],
                   "servicePath": document["servicePath"],
                   "note": "Extracted by tools/google_contract.py; do not edit by hand."},
        "parameters": document["parameters"],
        "methods": dict(sorted(methods.items())),
        "schemas": dict(sorted(schemas.items())),
        "scopes": {s: all_scopes[s] for s in scopes if s in all_scopes},
        "oauth": OAUTH,
    }


def render(contract: dict[str, Any]) -> str:
    return json.dumps(contract, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the contract file")
    parser.add_argument("--check", action="store_true", help="fail when the file differs from the package's")
    args = parser.parse_args(argv)
    document, version = package_document()
    text = render(subset(document, version))
    if args.write:
        CONTRACT_PATH.parent.mkdir(parents=True, exist_ok=True)
        CONTRACT_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {CONTRACT_PATH} from {PACKAGE} {version}")
        return 0
    same = CONTRACT_PATH.exists() and CONTRACT_PATH.read_text(encoding="utf-8") == text
    print("contract up to date" if same else f"contract differs from {PACKAGE} {version}: run --write")
    return 0 if same or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
