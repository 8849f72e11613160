"""``make connect-link WS=demo USER=alex KIND=teams``: a fresh one-time connect link from the running stack.

Reads the base URL and the function key from ``.run/stack.json`` (written by ``make run``) and asks the
management API for a link, which works once and expires (``CONNECT_LINK_TTL``). Prints the link alone, so
that ``$(make -s connect-link ...)`` can be opened in a browser.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from devhost.demo import HOST_USER, WORKSPACE, SeedError, connect_link
from devhost.settings_loader import repo_root

KINDS = ("teams", "microsoft_calendar")


def main(argv: list[str] | None = None) -> int:
    """Print a fresh connect link; 2 with a one-line reason when there is no stack or the API refuses."""
    parser = argparse.ArgumentParser(prog="make connect-link", description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", "--ws", default=WORKSPACE)
    parser.add_argument("--user", default=HOST_USER)
    parser.add_argument("--kind", default="teams", choices=KINDS)
    parser.add_argument("--stack-json", type=Path, default=repo_root() / ".run" / "stack.json")
    args = parser.parse_args(argv)
    try:
        info = json.loads(args.stack_json.read_text(encoding="utf-8"))
        base, key = str(info["functions_host"]["base_url"]).rstrip("/"), str(info["keys"]["function"])
    except (OSError, ValueError, KeyError, TypeError):
        print(f"connect-link: no running stack described in {args.stack_json}: start one with `make run`",
              file=sys.stderr)
        return 2
    try:
        print(connect_link(base, key, args.workspace, args.user, args.kind))
    except (SeedError, OSError) as exc:
        print(f"connect-link: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
