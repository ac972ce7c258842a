"""A webhook receiver for the integration tests (tests/api/webhooks.rs).

Verifies every delivery's signature with the PyPI `standardwebhooks` package
(the Standard Webhooks specification's own library, independent of the
service's signer) and appends one JSON line per request to --log:
{"verified", "error", "answered", "headers", "body"}. Prints the port it
listens on as its first line of output.

--fail-first N answers --fail-status (500) to the first N requests, with
--retry-after SECONDS when given; --status CODE answers CODE to every request
after them.

Run with the venv of scripts/ensure-standardwebhooks.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=500)
    parser.add_argument("--retry-after")
    parser.add_argument("--status", type=int, default=204)
    args = parser.parse_args()

    verifier = Webhook(args.secret)
    lock = threading.Lock()
    seen = {"requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                verifier.verify(body, headers)
                verified, error = True, None
            except WebhookVerificationError as exc:
                verified, error = False, str(exc)
            with lock:
                seen["requests"] += 1
                failing = seen["requests"] <= args.fail_first
                status = args.fail_status if failing else args.status
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                record = {
                    "verified": verified,
                    "error": error,
                    "answered": status,
                    "path": self.path,
                    "headers": headers,
                    "body": parsed,
                }
                with open(args.log, "a", encoding="utf-8") as log:
                    log.write(json.dumps(record) + "\n")
            self.send_response(status)
            if failing and args.retry_after:
                self.send_header("retry-after", args.retry_after)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
