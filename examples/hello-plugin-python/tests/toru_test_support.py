"""Shared helpers for the hello-python tests: paths, the protocol doc's examples, and a stand-in
daemon that talks to a plugin over a real Unix socket.

Run the suite from the repository root:
    python3 -m unittest discover -s examples/hello-plugin-python/tests -v
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
PLUGIN_DIR = TESTS.parent
REPO = PLUGIN_DIR.parent.parent
PROTOCOL_DOC = REPO / "docs" / "protocol.md"

# The SDK and the example are plain modules next to the tests' parent directory.
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))

#: Upper bound for any single wait in a test. Never an assertion by itself: reaching it means the
#: plugin failed to answer at all (a hang), which fails the test with a clear message.
WAIT = 10.0


def doc_blocks(tag: str) -> list:
    """The non-blank lines of every fenced block in docs/protocol.md whose info string is
    exactly ``tag`` (the same rule as the Rust SDK's protocol_doc test)."""
    out, inside = [], False
    for line in PROTOCOL_DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside and line[3:].strip() == tag
            continue
        if inside and line.strip():
            out.append(line)
    return out


def frame(type_: str, request_id: str, payload: dict | None = None) -> dict:
    """A frame as the daemon would send it."""
    return {"type": type_, "timestamp": int(time.time() * 1000), "request_id": request_id,
            "payload": {} if payload is None else payload}


def http(request_id: str, method: str, path: str, body: bytes = b"", user: str | None = None,
         headers: list | None = None) -> dict:
    payload = {"method": method, "path": path, "query": "", "headers": headers or [],
               "body": base64.b64encode(body).decode()}
    if user is not None:
        payload["user"] = user
    return frame("http.request", request_id, payload)


def body_of(reply: dict) -> bytes:
    return base64.b64decode(reply["payload"].get("body", ""))


def json_of(reply: dict) -> Any:
    return json.loads(body_of(reply))


class TestDaemon:
    """The daemon's side of one connection, driven by a test: send frames, read replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.kv: dict = {}

    @classmethod
    async def connect(cls, path: str | os.PathLike, timeout: float = WAIT) -> TestDaemon:
        """Connects, retrying until the plugin listens (like the daemon does)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(str(path),
                                                                    limit=64 * 1024 * 1024)
                return cls(reader, writer)
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)

    async def send(self, message: dict | bytes) -> None:
        data = message if isinstance(message, bytes) else (
            json.dumps(message, separators=(",", ":")).encode() + b"\n")
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self) -> dict:
        """The next frame from the plugin; fails the test if none comes within WAIT."""
        line = await asyncio.wait_for(self.reader.readline(), WAIT)
        if not line:
            raise EOFError("the plugin closed the connection")
        return json.loads(line)

    async def at_eof(self) -> bool:
        """True when the plugin closed this connection (waits up to WAIT)."""
        try:
            line = await asyncio.wait_for(self.reader.readline(), WAIT)
        except (ConnectionError, OSError):
            return True
        return line == b""

    async def init(self, plugin_id: str = "hello-python",
                   instance_id: str = "00000000-0000-4000-8000-000000000000",
                   request_id: str = "d-init", license: str | None = None,
                   config: dict | None = None) -> dict:
        payload = {"protocol_version": 1, "plugin_id": plugin_id, "instance_id": instance_id,
                   "config": config or {}}
        if license is not None:
            payload["license"] = license
        await self.send(frame("lifecycle.init", request_id, payload))
        return await self.recv()

    async def call(self, message: dict) -> dict:
        """Sends a request and returns its reply, answering the plugin's kv.requests from
        :attr:`kv` meanwhile."""
        await self.send(message)
        while True:
            reply = await self.recv()
            if reply["type"] == "kv.request":
                await self.answer_kv(reply)
                continue
            return reply

    async def answer_kv(self, request: dict) -> None:
        """Answers one kv.request the way the daemon does, from the in-memory :attr:`kv`."""
        p, rid = request["payload"], request["request_id"]
        op = p["op"]
        if op == "get":
            result = {"op": "get", "value": self.kv.get(p["key"])}
        elif op == "set":
            self.kv[p["key"]] = p["value"]
            result = {"op": "set"}
        elif op == "delete":
            result = {"op": "delete", "existed": self.kv.pop(p["key"], None) is not None}
        else:
            prefix = p.get("prefix", "")
            result = {"op": "list", "keys": sorted(k for k in self.kv if k.startswith(prefix))}
        await self.send(frame("kv.response", rid, result))

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
