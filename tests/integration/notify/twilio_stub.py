"""A stand-in for Twilio's Messages API on localhost: the subset the `twilio` SDK calls to send a text and
to list recent ones, checked as Twilio would (HTTP Basic auth with the account SID and token). It can fail
on demand: 500s, or answers held past the client's timeout (after taking the message, as a slow Twilio might).
Twilio itself is out of reach from tests; this is the only fake in the notification tests."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class StubMessage:
    sid: str
    to: str
    sender: str
    body: str
    status_callback: str | None
    created: datetime


@dataclass
class TwilioStub:
    account_sid: str
    auth_token: str
    messages: list[StubMessage] = field(default_factory=list)
    fail_next: int = 0  # the next n sends answer 500 without taking the message
    slow_next: int = 0  # the next n sends take the message, then answer only after `slow_s`
    slow_s: float = 2.0
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def bodies_to(self, to: str) -> list[str]:
        with self.lock:
            return [m.body for m in self.messages if m.to == to]


def _json(m: StubMessage, account_sid: str) -> dict:
    return {"sid": m.sid, "account_sid": account_sid, "to": m.to, "from": m.sender, "body": m.body,
            "status": "queued", "date_created": format_datetime(m.created, usegmt=True), "date_updated": None,
            "date_sent": None, "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{m.sid}.json"}


def start(account_sid: str = "AC" + "0" * 32, auth_token: str = "stub-token") -> tuple[TwilioStub, ThreadingHTTPServer]:
    stub = TwilioStub(account_sid, auth_token)
    path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
    expected = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, code: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != expected:
                self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                return False
            return True

        def do_POST(self) -> None:
            if urlsplit(self.path).path != path:
                self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                return
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
            if not self._authorised():
                return
            with stub.lock:
                stub.calls += 1
                if stub.fail_next > 0:
                    stub.fail_next -= 1
                    failing, slow = True, False
                else:
                    failing, slow = False, stub.slow_next > 0
                    if slow:
                        stub.slow_next -= 1
                    msg = StubMessage("SM" + secrets.token_hex(16), form["To"], form["From"], form["Body"],
                                      form.get("StatusCallback"), datetime.now(UTC))
                    stub.messages.append(msg)
            if failing:
                self._answer(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
                return
            if slow:
                time.sleep(stub.slow_s)
            self._answer(201, _json(msg, account_sid))

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != path:
                self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                return
            if not self._authorised():
                return
            q = {k: v[0] for k, v in parse_qs(parts.query).items()}
            with stub.lock:
                found = [m for m in reversed(stub.messages)
                         if m.to == q.get("To", m.to) and m.sender == q.get("From", m.sender)]
            size = int(q.get("PageSize", "50"))
            self._answer(200, {"messages": [_json(m, account_sid) for m in found[:size]], "next_page_uri": None,
                               "page": 0, "page_size": size, "uri": self.path})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    return stub, server
