#!/usr/bin/env python3
"""A chaincrm webhook receiver, standard library only: verifies each delivery's signature, refuses
one signed more than 5 minutes ago, handles each event id once, prints the events.

    WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py --port 9000

then `chaincrm webhook add http://127.0.0.1:9000/ --events invoice.paid,deal.stage_changed`.

The signature header is ``Chaincrm-Signature: t=<unix seconds>,v1=<hex>``, the hex being
HMAC-SHA256 under the endpoint's secret of ``f"{t}.{body}"`` over the raw body bytes (Stripe's
scheme). chaincrm sends each event at least once: after a failure, a timeout or a restart it sends
again, so a receiver acts on each event id once. This one remembers ids in memory; keep them in
your database (a unique key on the id, written in the same transaction as the event's effect).
Answer 2xx quickly once the event is stored; anything else is retried with backoff for 24 hours.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SECONDS = 5 * 60
MAX_BODY_BYTES = 1024 * 1024


def verify(secret: str, body: bytes, header: str | None, now: float | None = None) -> bool:
    """True if `header` signs `body` under `secret` and was made within TOLERANCE_SECONDS."""
    if not header:
        return False
    fields = [item.strip().partition("=") for item in header.split(",")]
    stamps = [value for key, _, value in fields if key == "t" and value.isdigit()]
    signatures = [value for key, _, value in fields if key == "v1"]
    if len(stamps) != 1 or not signatures:
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        return False  # too old (or from the future): a replayed capture
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def print_event(event: dict[str, Any]) -> None:
    print(json.dumps({"id": event["id"], "type": event["type"], "data": event["data"]}), flush=True)


class Receiver(ThreadingHTTPServer):
    """An HTTP server that passes each verified, new event to `handle`."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], secret: str, handle: Callable[[dict[str, Any]], None] = print_event
    ) -> None:
        super().__init__(address, _Handler)
        self.secret = secret
        self.handle = handle
        self.seen: set[str] = set()
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return self._answer(413, "too large")
        body = self.rfile.read(length)
        if not verify(self.server.secret, body, self.headers.get("Chaincrm-Signature")):
            return self._answer(400, "bad or old signature")
        event = json.loads(body)
        with self.server.lock:  # one event id handled once, even when two copies arrive together
            if event["id"] in self.server.seen:
                return self._answer(200, "already handled")
            self.server.handle(event)  # if this raises, the id is not marked: the retry handles it
            self.server.seen.add(event["id"])
        return self._answer(200, "ok")

    def _answer(self, status: int, text: str) -> None:
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the events are the output


def main() -> None:
    parser = argparse.ArgumentParser(description="Receive chaincrm webhooks and print them.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    secret = os.environ.get("WEBHOOK_SECRET")
    if not secret:
        sys.exit("set WEBHOOK_SECRET to the endpoint's secret (printed by `chaincrm webhook add`)")
    server = Receiver((args.host, args.port), secret)
    print(f"listening on http://{args.host}:{server.server_address[1]}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
