"""``python -m devhost.msstandin --port N --cert-dir DIR``: run the stand-in until SIGINT/SIGTERM."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, StandIn

REPO_ROOT = Path(__file__).resolve().parents[2]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (client id/secret default to MICROSOFT_CLIENT_ID / MICROSOFT_CLIENT_SECRET)."""
    p = argparse.ArgumentParser(prog="python -m devhost.msstandin", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: a free port, printed)")
    p.add_argument("--cert-dir", default=str(REPO_ROOT / ".devcerts"),
                   help="folder for standin-ca.pem (default: <repo>/.devcerts)")
    p.add_argument("--accounts", default=None, help="accounts fixture (default: devhost/msstandin/accounts.json)")
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--max-concurrent-per-mailbox", type=int, default=4)
    p.add_argument("--client-id", default=os.environ.get("MICROSOFT_CLIENT_ID") or DEFAULT_CLIENT_ID)
    p.add_argument("--client-secret", default=os.environ.get("MICROSOFT_CLIENT_SECRET") or DEFAULT_CLIENT_SECRET)
    p.add_argument("--json", action="store_true", help="print the URLs as one JSON line")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Start, print the URLs, wait for a signal, stop."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(name)s: %(message)s")
    stand_in = StandIn(args.accounts, latency_ms=args.latency_ms,
                       max_concurrent_per_mailbox=args.max_concurrent_per_mailbox, port=args.port,
                       cert_dir=args.cert_dir, host=args.host, client_id=args.client_id,
                       client_secret=args.client_secret)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stand_in.start()
    info: dict[str, Any] = {"base_url": stand_in.base_url, "authority_host": stand_in.authority_host,
                            "authority": stand_in.authority, "graph_base_url": stand_in.graph_base_url,
                            "ca_bundle_path": str(stand_in.ca_bundle_path), "client_id": stand_in.client_id,
                            "port": stand_in.port}
    if args.json:
        print(json.dumps(info), flush=True)
    else:
        print("Microsoft stand-in (dev only) is running. Ctrl+C to stop.")
        for key, value in info.items():
            print(f"  {key:<15} {value}")
        print(f"  {'sandbox':<15} {stand_in.base_url}/_sandbox/accounts", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        stand_in.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
