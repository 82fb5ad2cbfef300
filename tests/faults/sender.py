#!/usr/bin/env python3
"""Meta-like sender for the database-outage scenario of tests/faults/run.sh.

Posts signed WhatsApp webhooks, each with a unique message id, one after another, and
retries every answer but 200 (as Meta does) until it is acknowledged. It starts no new
message once the file `<out>/stop` exists, or at the message or time limit.

While it runs, run.sh writes `<out>/down_at` (epoch ms once Postgres has stopped) and
`<out>/up_at` (epoch ms when Postgres is told to start again). At the end the sender
writes the acknowledged ids to `<out>/acknowledged` and prints one line of figures:

    sent acknowledged answered_200_while_down answered_503 answered_other recovered_ms

A 200 counts as "while down" if its request was sent after Postgres had stopped and was
answered before Postgres was started again. `recovered_ms` is the time from `up_at` to
the first 200 after it.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import pathlib
import sys
import time

TEMPLATE_ID = "wamid.nBgN6TUyN2k5NzAzM5kzNhUCABI8FDNFQjAxQkE5REI4NEUzQ5Y5QTNgAA=="
RETRY_PAUSE_S = 0.05


def now_ms():
    return int(time.time() * 1000)


def read_ms(path):
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


class Gateway:
    """One keep-alive connection, reopened after any transport error."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def post(self, path, body, headers):
        """The status, or None when no HTTP answer came back."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            self.conn.request("POST", path, body=body, headers=headers)
            response = self.conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--fixture", type=pathlib.Path, required=True)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--max-messages", type=int, default=50_000)
    parser.add_argument("--max-seconds", type=float, default=120)
    args = parser.parse_args()

    template = args.fixture.read_text()
    assert TEMPLATE_ID in template, f"{args.fixture} lacks the message id to replace"
    secret = args.secret.encode()
    gateway = Gateway(args.port)
    path = f"/hooks/{args.tenant}"
    deadline = time.monotonic() + args.max_seconds
    stop = args.out / "stop"

    acknowledged = []
    answers = []  # (sent_ms, answered_ms, status)
    sent = 0
    while sent < args.max_messages and not stop.exists() and time.monotonic() < deadline:
        message_id = f"wamid.outage{sent}"
        sent += 1
        body = template.replace(TEMPLATE_ID, message_id).encode()
        signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        headers = {"content-type": "application/json", "x-hub-signature-256": signature}
        while time.monotonic() < deadline:
            sent_ms = now_ms()
            status = gateway.post(path, body, headers)
            answers.append((sent_ms, now_ms(), status))
            if status == 200:
                acknowledged.append(message_id)
                break
            time.sleep(RETRY_PAUSE_S)

    down_at = read_ms(args.out / "down_at")
    up_at = read_ms(args.out / "up_at")
    if down_at is None or up_at is None:
        sys.exit("sender: the outage window was never recorded")
    while_down = sum(
        1 for s, a, status in answers if status == 200 and s >= down_at and a <= up_at
    )
    answered_503 = sum(1 for _, _, status in answers if status == 503)
    other = sum(1 for _, _, status in answers if status not in (200, 503))
    first_after = min((a for _, a, status in answers if status == 200 and a >= up_at), default=None)
    recovered_ms = -1 if first_after is None else first_after - up_at
    (args.out / "acknowledged").write_text("".join(f"{m}\n" for m in acknowledged))
    (args.out / "answers.json").write_text(json.dumps(answers))
    print(sent, len(acknowledged), while_down, answered_503, other, recovered_ms)


if __name__ == "__main__":
    main()
