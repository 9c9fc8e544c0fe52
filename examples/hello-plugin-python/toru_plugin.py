"""Write Toru plugins in Python: the protocol, the runner and the KV handle, standard library only.

A Toru plugin is an executable the daemon runs and talks to over a Unix socket with
newline-delimited JSON. ``docs/protocol.md`` in the Toru repository is the normative description;
this module mirrors the Rust SDK (``toru-plugin-api``) so that both behave the same on the wire.

A complete plugin::

    import toru_plugin as toru

    class Counter(toru.Plugin):
        def metadata(self):
            return {"id": "counter", "name": "Counter", "version": "1.0.0",
                    "route": "/counter", "protocol_version": toru.PROTOCOL_VERSION}

        async def init(self, ctx):
            self.kv = ctx.kv            # the same handle on every reconnection

        async def handle_http(self, request):
            if (request.method, request.path) == ("POST", "/count"):
                n = int(await self.kv.get("n") or 0) + 1
                await self.kv.set("n", str(n))
                return toru.Response.json({"count": n})
            return toru.Response.not_found()

    if __name__ == "__main__":
        toru.run(Counter())

Python 3.11 or newer (Debian 12's ``/usr/bin/python3``); no third-party packages.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import logging
import os
import re
import signal
import socket
import stat
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Iterable, NoReturn, Optional, TypeGuard

# A plugin runs read-only under systemd (ProtectSystem=strict); never try to write bytecode.
sys.dont_write_bytecode = True

__all__ = [
    "PROTOCOL_VERSION", "MAX_FRAME", "MAX_IN_FLIGHT", "SOCKET_ENV", "RESERVED_PREFIX",
    "Plugin", "Context", "Kv", "Request", "Response",
    "PluginError", "BadRequest", "NotFound", "KvError", "Disconnected", "Timeout",
    "Message", "Init", "Ready", "KvRequest", "KvResult", "ErrorPayload",
    "DecodeError", "FrameTooLarge", "decode", "encode", "validate_metadata",
    "ServeOptions", "RunnerError", "NotASocketError", "serve", "run", "main", "parse_args",
    "read_resource", "debug", "info", "warn", "error",
]

#: The protocol version this module speaks (``--metadata``, ``lifecycle.init``/``ready``).
PROTOCOL_VERSION = 1
#: Largest frame read or written, newline excluded (8 MiB, ``docs/protocol.md`` §2).
MAX_FRAME = 8 * 1024 * 1024
#: Requests handled at once per connection; more are answered ``unavailable`` at once.
MAX_IN_FLIGHT = 1024
#: How long shutdown waits for in-flight requests.
DRAIN_TIMEOUT = 5.0
#: How long a KV call waits for the daemon's answer.
KV_TIMEOUT = 10.0
#: The environment variable the daemon passes the socket path in.
SOCKET_ENV = "TORU_PLUGIN_SOCKET"
#: Paths under this prefix are the daemon's, not the plugin's routes (``docs/protocol.md`` §4).
RESERVED_PREFIX = "/_toru/"


# ------------------------------------------------------------------------------------------------
# Logging: syslog priority prefixes, the way journald and the embedded supervisor read them.

def _log(prefix: str, message: object) -> None:
    """Writes ``message`` to stderr with ``prefix`` on *every* line, so a multi-line message (a
    traceback) keeps its level in the journal instead of becoming info after the first line."""
    lines = str(message).splitlines() or [""]
    try:
        sys.stderr.write("".join(f"{prefix}{line}\n" for line in lines))
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr closed: nowhere left to log to, and logging must never fail a request.


def debug(message: object) -> None:
    """Logs at debug priority (``<7>``)."""
    _log("<7>", message)


def info(message: object) -> None:
    """Logs at info priority (``<6>``)."""
    _log("<6>", message)


def warn(message: object) -> None:
    """Logs at warning priority (``<4>``)."""
    _log("<4>", message)


def error(message: object) -> None:
    """Logs at error priority (``<3>``)."""
    _log("<3>", message)


class _PrefixHandler(logging.Handler):
    """Routes the ``logging`` module (asyncio's own warnings, a plugin's libraries) through the
    same prefixes, so nothing reaches the journal at the wrong priority."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            prefix = "<3>"
        elif record.levelno >= logging.WARNING:
            prefix = "<4>"
        elif record.levelno >= logging.INFO:
            prefix = "<6>"
        else:
            prefix = "<7>"
        try:
            _log(prefix, self.format(record))
        except Exception:  # noqa: BLE001 - a broken log record must not break the caller
            self.handleError(record)


# ------------------------------------------------------------------------------------------------
# Errors a handler raises; the runner turns them into HTTP responses like the Rust PluginError.

class PluginError(Exception):
    """Base of the errors plugin code and the SDK raise. Anything raised from ``handle_http``
    that is a ``PluginError`` becomes a JSON ``{"error":{"code","message"}}`` response with
    :attr:`status`; the base class itself means an internal error (500)."""

    status = 500
    code = "internal"

    def to_response(self) -> Response:
        """The JSON error response for this error, in the daemon's error shape."""
        return Response.json({"error": {"code": self.code, "message": str(self)}}, self.status)


class BadRequest(PluginError):
    """The request was wrong (also: a body that is not the expected JSON); answered with 400."""

    status = 400
    code = "bad_request"


class NotFound(PluginError):
    """The thing asked for does not exist; answered with 404."""

    status = 404
    code = "not_found"


class KvError(PluginError):
    """The daemon refused or failed a KV operation; answered with 500. :attr:`daemon_code` is the
    daemon's protocol error code (``kv_failed``, ``unavailable``, …) for callers that care."""

    status = 500
    code = "kv_failed"

    def __init__(self, message: str, daemon_code: str = "kv_failed") -> None:
        super().__init__(message)
        self.daemon_code = daemon_code


class Disconnected(PluginError):
    """There is no daemon connection right now (it is restarting); answered with 503."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str = "not connected to the daemon") -> None:
        super().__init__(message)


class Timeout(PluginError):
    """The daemon did not answer in time; answered with 504."""

    status = 504
    code = "timeout"


class Unlicensed(PluginError):
    """What was asked for needs a valid licence and there is none: 402 when no key is installed
    (``kind`` ``missing``), else 403. ``kind`` is a failure kind of ``docs/licensing.md``; the
    body is the same as the Rust SDK's and the daemon's."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = 402 if kind == "missing" else 403
        self.code = "license_missing" if kind == "missing" else "license_invalid"

    def to_response(self) -> Response:
        return Response.json(
            {"error": {"code": self.code, "kind": self.kind, "message": str(self)}}, self.status)


# ------------------------------------------------------------------------------------------------
# The messages, as plain data. No I/O here.

class DecodeError(Exception):
    """Why one line could not become a :class:`Message`. Recoverable: the stream is still in
    sync at the next newline, so the reader answers ``error`` with :attr:`code` and goes on.
    :attr:`request_id` is ``None`` when the envelope was too broken to have one."""

    def __init__(self, code: str, message: str, request_id: Optional[str] = None) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id


class FrameTooLarge(Exception):
    """A frame to send is over the limit; the peer would drop the connection, so it is never
    written."""


class _PayloadError(Exception):
    """A payload field is missing or mistyped; becomes ``bad_payload``."""


def _now_millis() -> int:
    return time.time_ns() // 1_000_000


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass in Python, but `true` is not an integer on the wire.
    return isinstance(value, int) and not isinstance(value, bool)


# Field readers: each enforces what serde enforces on the Rust side, so a frame one SDK accepts
# the other accepts too. `_MISSING` marks a required field.
_MISSING = object()


def _get(payload: dict, name: str, default: Any) -> Any:
    if name in payload:
        return payload[name]
    if default is _MISSING:
        raise _PayloadError(f"missing field `{name}`")
    return default


def _read_str(payload: dict, name: str, default: Any = _MISSING) -> str:
    value = _get(payload, name, default)
    if not isinstance(value, str):
        raise _PayloadError(f"`{name}` must be a string")
    return value


def _read_opt_str(payload: dict, name: str) -> Optional[str]:
    value = payload.get(name)
    if value is not None and not isinstance(value, str):
        raise _PayloadError(f"`{name}` must be a string or null")
    return value


def _read_uint(payload: dict, name: str, bits: int) -> int:
    value = _get(payload, name, _MISSING)
    if not _is_int(value) or not 0 <= value < (1 << bits):
        raise _PayloadError(f"`{name}` must be an integer from 0 to {(1 << bits) - 1}")
    return value


def _read_bool(payload: dict, name: str) -> bool:
    value = _get(payload, name, _MISSING)
    if not isinstance(value, bool):
        raise _PayloadError(f"`{name}` must be a boolean")
    return value


def _read_str_list(payload: dict, name: str) -> list:
    value = _get(payload, name, _MISSING)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _PayloadError(f"`{name}` must be an array of strings")
    return value


def _read_object(payload: dict, name: str) -> dict:
    value = _get(payload, name, {})
    if not isinstance(value, dict):
        raise _PayloadError(f"`{name}` must be an object")
    return value


def _read_headers(payload: dict, name: str) -> list:
    value = _get(payload, name, [])
    ok = isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2
        and isinstance(pair[0], str) and isinstance(pair[1], str)
        for pair in value
    )
    if not ok:
        raise _PayloadError(f"`{name}` must be an array of [name, value] string pairs")
    return [(n, v) for n, v in value]


def _read_body(payload: dict, name: str) -> bytes:
    text = _read_str(payload, name, "")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as e:
        raise _PayloadError(f"body is not valid base64: {e}") from None
    # Standard base64 with canonical padding and zero trailing bits, like Rust's STANDARD engine:
    # re-encoding must give the same text back.
    if base64.b64encode(data).decode("ascii") != text:
        raise _PayloadError("body is not valid base64: not canonical (padding or trailing bits)")
    return data


def _to_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _normalise_headers(headers: Any) -> list:
    """Accepts a list of pairs or a mapping; the wire wants an ordered list of pairs."""
    if headers is None:
        return []
    if isinstance(headers, dict):
        headers = headers.items()
    return [(str(n), str(v)) for n, v in headers]


@dataclass
class Init:
    """Payload of ``lifecycle.init``: who the plugin is and where it runs."""

    protocol_version: int
    plugin_id: str
    instance_id: str
    config: dict = field(default_factory=dict)
    #: The licence key the administrator installed, exactly as given; ``None`` when none.
    license: Optional[str] = None

    @classmethod
    def from_payload(cls, p: dict) -> Init:
        return cls(_read_uint(p, "protocol_version", 32), _read_str(p, "plugin_id"),
                   _read_str(p, "instance_id"), _read_object(p, "config"),
                   _read_opt_str(p, "license"))

    def to_payload(self) -> dict:
        out = {"protocol_version": self.protocol_version, "plugin_id": self.plugin_id,
               "instance_id": self.instance_id, "config": self.config}
        if self.license is not None:
            out["license"] = self.license
        return out


@dataclass
class Ready:
    """Payload of ``lifecycle.ready``."""

    protocol_version: int = PROTOCOL_VERSION
    #: The plugin's licence verdict (``{"state": "valid", "licensee", "expires_at",
    #: "features"}`` or ``{"state": "invalid", "error", "message"}``); ``None`` when the plugin
    #: checks no licences.
    license: Optional[dict] = None

    @classmethod
    def from_payload(cls, p: dict) -> Ready:
        report = p.get("license")
        if report is not None and (not isinstance(report, dict)
                                   or report.get("state") not in ("valid", "invalid")):
            raise _PayloadError("`license` must be an object with state valid or invalid")
        return cls(_read_uint(p, "protocol_version", 32), report)

    def to_payload(self) -> dict:
        out: dict[str, Any] = {"protocol_version": self.protocol_version}
        if self.license is not None:
            out["license"] = self.license
        return out


@dataclass
class Request:
    """An HTTP request forwarded by the daemon (payload of ``http.request``). ``path`` is below
    the plugin's route prefix and starts with ``/``; ``query`` is the raw query string without
    ``?``; ``headers`` are ``(name, value)`` pairs with lower-case names, in order, possibly
    repeated; ``body`` is the raw bytes; ``user`` is the authenticated user, or ``None``."""

    method: str
    path: str
    query: str = ""
    headers: list = field(default_factory=list)
    body: bytes = b""
    user: Optional[str] = None

    def header(self, name: str) -> Optional[str]:
        """The first value of a header, compared case-insensitively, or ``None``."""
        wanted = name.lower()
        return next((v for n, v in self.headers if n.lower() == wanted), None)

    def json(self) -> Any:
        """The body parsed as JSON. Raises :class:`BadRequest` (400) when it is not, so a
        handler can just call it."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as e:
            raise BadRequest(f"invalid JSON: {e}") from None

    @classmethod
    def from_payload(cls, p: dict) -> Request:
        return cls(_read_str(p, "method"), _read_str(p, "path"), _read_str(p, "query", ""),
                   _read_headers(p, "headers"), _read_body(p, "body"), _read_opt_str(p, "user"))

    def to_payload(self) -> dict:
        out = {"method": self.method, "path": self.path, "query": self.query,
               "headers": [[n, v] for n, v in self.headers], "body": _to_base64(self.body)}
        if self.user is not None:
            out["user"] = self.user
        return out


@dataclass
class Response:
    """A plugin's answer to a :class:`Request` (payload of ``http.response``). ``headers`` may
    be given as a list of pairs or a dict."""

    status: int = 200
    headers: Any = field(default_factory=list)  # list of (name, value); a dict is converted
    body: bytes = b""

    def __post_init__(self) -> None:
        self.headers = _normalise_headers(self.headers)

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        """A JSON response (``application/json``)."""
        body = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return cls(status, [("content-type", "application/json")], body.encode("utf-8"))

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        """A plain-text response (``text/plain; charset=utf-8``)."""
        return cls(status, [("content-type", "text/plain; charset=utf-8")], text.encode("utf-8"))

    @classmethod
    def not_found(cls) -> Response:
        """``404`` with a JSON error body, for paths the plugin does not serve."""
        return cls.json({"error": {"code": "not_found", "message": "no such route"}}, 404)

    @classmethod
    def from_payload(cls, p: dict) -> Response:
        return cls(_read_uint(p, "status", 16), _read_headers(p, "headers"), _read_body(p, "body"))

    def to_payload(self) -> dict:
        return {"status": self.status, "headers": [[n, v] for n, v in self.headers],
                "body": _to_base64(self.body)}


_KV_OPS = ("get", "set", "delete", "list")


@dataclass
class KvRequest:
    """Payload of ``kv.request``: one operation on the plugin's key-value store."""

    op: str
    key: Optional[str] = None
    value: Optional[str] = None
    prefix: Optional[str] = None

    @classmethod
    def from_payload(cls, p: dict) -> KvRequest:
        op = _read_str(p, "op")
        if op == "get" or op == "delete":
            return cls(op, key=_read_str(p, "key"))
        if op == "set":
            return cls(op, key=_read_str(p, "key"), value=_read_str(p, "value"))
        if op == "list":
            return cls(op, prefix=_read_str(p, "prefix", ""))
        raise _PayloadError(f"unknown variant `{op}`, expected one of {', '.join(_KV_OPS)}")

    def to_payload(self) -> dict:
        if self.op == "list":
            return {"op": "list", "prefix": self.prefix or ""}
        out = {"op": self.op, "key": self.key}
        if self.op == "set":
            out["value"] = self.value
        return out


@dataclass
class KvResult:
    """Payload of ``kv.response``: ``value`` for get, ``existed`` for delete, ``keys`` for list."""

    op: str
    value: Optional[str] = None
    existed: Optional[bool] = None
    keys: Optional[list] = None

    @classmethod
    def from_payload(cls, p: dict) -> KvResult:
        op = _read_str(p, "op")
        if op == "get":
            return cls(op, value=_read_opt_str(p, "value"))
        if op == "set":
            return cls(op)
        if op == "delete":
            return cls(op, existed=_read_bool(p, "existed"))
        if op == "list":
            return cls(op, keys=_read_str_list(p, "keys"))
        raise _PayloadError(f"unknown variant `{op}`, expected one of {', '.join(_KV_OPS)}")

    def to_payload(self) -> dict:
        if self.op == "get":
            return {"op": "get", "value": self.value}
        if self.op == "delete":
            return {"op": "delete", "existed": bool(self.existed)}
        if self.op == "list":
            return {"op": "list", "keys": list(self.keys or [])}
        return {"op": self.op}


@dataclass
class ErrorPayload:
    """Payload of ``error``. A code this version does not know is kept as sent and treated as
    ``internal`` (``docs/protocol.md`` §4)."""

    code: str
    message: str

    @classmethod
    def from_payload(cls, p: dict) -> ErrorPayload:
        return cls(_read_str(p, "code"), _read_str(p, "message"))

    def to_payload(self) -> dict:
        return {"code": self.code, "message": self.message}


class _Empty:
    """Payload reader/writer for the types that carry none (ping, pong, lifecycle.shutdown)."""

    @staticmethod
    def from_payload(p: dict) -> None:
        return None


#: Every message type and the class of its body (``_Empty`` bodies are ``None``).
_BODIES: dict = {
    "lifecycle.init": Init,
    "lifecycle.ready": Ready,
    "lifecycle.shutdown": _Empty,
    "http.request": Request,
    "http.response": Response,
    "kv.request": KvRequest,
    "kv.response": KvResult,
    "ping": _Empty,
    "pong": _Empty,
    "error": ErrorPayload,
}


@dataclass
class Message:
    """One protocol message: the envelope plus a typed ``body`` (``None`` for empty payloads)."""

    type: str
    request_id: str
    body: Any = None
    timestamp: int = field(default_factory=_now_millis)

    @classmethod
    def error(cls, request_id: str, code: str, message: str) -> Message:
        """An ``error`` reply to the request ``request_id``."""
        return cls("error", request_id, ErrorPayload(code, message))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_envelope(line: bytes | str) -> tuple:
    """Step one of decoding: the envelope. Everything wrong here is ``malformed_frame``."""
    try:
        text = line.decode("utf-8") if isinstance(line, (bytes, bytearray)) else line
        raw = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise DecodeError("malformed_frame", "malformed frame: frame is not valid UTF-8") from None
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise DecodeError("malformed_frame", f"malformed frame: {e}") from None
    if not isinstance(raw, dict):
        raise DecodeError("malformed_frame", "malformed frame: not a JSON object")
    type_name, timestamp, request_id = raw.get("type"), raw.get("timestamp"), raw.get("request_id")
    if not isinstance(type_name, str):
        raise DecodeError("malformed_frame", "malformed frame: `type` missing or not a string")
    if not _is_int(timestamp) or not 0 <= timestamp < (1 << 64):
        raise DecodeError("malformed_frame",
                          "malformed frame: `timestamp` missing or not an unsigned integer")
    if not isinstance(request_id, str):
        raise DecodeError("malformed_frame",
                          "malformed frame: `request_id` missing or not a string")
    payload = raw.get("payload")
    return type_name, timestamp, request_id, ({} if payload is None else payload)


def decode(line: bytes | str) -> Message:
    """Parses one frame (without its newline) into a :class:`Message`, or raises
    :class:`DecodeError` with the protocol error code to answer with.

    Two steps, like the Rust SDK: the envelope first, then the payload for its ``type``, so every
    error after the envelope still knows which request it belongs to."""
    type_name, timestamp, request_id, payload = _parse_envelope(line)
    body_class = _BODIES.get(type_name)
    if body_class is None:
        shown = json.dumps(type_name if len(type_name) <= 64 else type_name[:64] + "…")
        raise DecodeError("unknown_type", f"unknown message type {shown}", request_id)
    try:
        if not isinstance(payload, dict):
            raise _PayloadError("payload must be an object")
        body = body_class.from_payload(payload)
    except _PayloadError as e:
        raise DecodeError("bad_payload", f"bad payload for {type_name}: {e}", request_id) from None
    return Message(type_name, request_id, body, timestamp)


def encode(message: Message, max_frame: int = MAX_FRAME) -> bytes:
    """This message as one compact JSON line, newline included. Raises :class:`FrameTooLarge`
    rather than write what the peer would refuse to read (the limit is symmetric), and
    ``ValueError``/``TypeError`` for a body that cannot be JSON (e.g. a lone surrogate)."""
    payload = {} if message.body is None else message.body.to_payload()
    envelope = {"type": message.type, "timestamp": message.timestamp,
                "request_id": message.request_id, "payload": payload}
    text = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    data = text.encode("utf-8") + b"\n"
    if len(data) - 1 > max_frame:
        raise FrameTooLarge(f"{message.type} frame of {len(data) - 1} bytes exceeds the "
                            f"{max_frame}-byte limit")
    return data


# ------------------------------------------------------------------------------------------------
# Metadata.

_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ROUTE = re.compile(r"/[a-z0-9_/-]*")


def validate_metadata(meta: dict) -> None:
    """Raises ``ValueError`` unless ``meta`` is what the daemon accepts (``docs/protocol.md``
    §1). The daemon would skip such a plugin anyway; failing here says why, to its author."""
    def need_str(name: str, required: bool) -> str:
        # Optional fields may be absent but not null: the daemon (serde) refuses null for them.
        if name not in meta and not required:
            return ""
        value = meta.get(name)
        if not isinstance(value, str):
            raise ValueError(f"metadata field {name!r} must be a string")
        return value

    for name in ("author", "icon", "description"):
        need_str(name, required=False)
    if not isinstance(meta.get("license_required", False), bool):
        raise ValueError("metadata field 'license_required' must be a boolean")
    plugin_id = need_str("id", required=True)
    if not _ID.fullmatch(plugin_id):
        raise ValueError(f"invalid plugin id {plugin_id!r}: must match ^[a-z0-9][a-z0-9-]{{0,62}}$")
    route = need_str("route", required=True)
    if not _ROUTE.fullmatch(route) or "//" in route or len(route.encode()) > 128:
        raise ValueError(f"invalid route {route!r}: must start with '/' and contain only "
                         "a-z, 0-9, '-', '_' and '/', no '//', at most 128 bytes")
    if meta.get("protocol_version") != PROTOCOL_VERSION or not _is_int(meta["protocol_version"]):
        raise ValueError(f"metadata protocol_version must be {PROTOCOL_VERSION}")
    for name in ("name", "version"):
        if not need_str(name, required=True).strip():
            raise ValueError(f"metadata field {name!r} must not be empty")
    _validate_permissions(meta.get("permissions", {}))


#: The keys of ``permissions`` and their JSON types (``docs/protocol.md``, "Permissions").
_PERMISSIONS = {"network": bool, "jit": bool, "writable_paths": list, "devices": list}


def _validate_permissions(permissions) -> None:
    """The shape of ``permissions``: an object of known keys with the right types, such as
    ``{"jit": True}`` for a plugin on PyPy or one that uses ctypes callbacks. The daemon checks
    the paths themselves; an unknown key would make it skip the plugin, so it fails here."""
    if not isinstance(permissions, dict):
        raise ValueError("metadata field 'permissions' must be an object")
    for key, value in permissions.items():
        kind = _PERMISSIONS.get(key)
        if kind is None:
            raise ValueError(f"unknown permission {key!r}: known are {sorted(_PERMISSIONS)}")
        if not isinstance(value, kind) or (kind is list and
                                           not all(isinstance(v, str) for v in value)):
            raise ValueError(f"permissions.{key} must be "
                             f"{'a boolean' if kind is bool else 'a list of strings'}")


# ------------------------------------------------------------------------------------------------
# What a plugin author implements, and what the runner hands them.

class Plugin:
    """Subclass this. Only :meth:`metadata` and :meth:`handle_http` are required.

    The runner calls ``handle_http`` concurrently, once per request, each in its own task, so
    keep per-request state local and shared state in the KV store or guarded by asyncio locks.
    """

    def metadata(self) -> dict:
        """Who the plugin is: ``id``, ``name``, ``version``, ``route``, ``protocol_version``
        (:data:`PROTOCOL_VERSION`), optionally ``author``, ``icon``, ``description``,
        ``permissions`` and ``settings`` (a JSON Schema of what an administrator can configure,
        ``docs/protocol.md``). Printed for ``--metadata``; must be the same on every call."""
        raise NotImplementedError

    async def init(self, ctx: Context) -> None:
        """Called on every ``lifecycle.init``: once per daemon connection, so again after the
        daemon restarts. Keep ``ctx.kv``: the handle stays valid across reconnections. Raising
        refuses the init (the daemon reports the plugin as failed)."""

    def license_verifier(self) -> Any:
        """The vendor's ``toru_license.VerifyingKey``, or ``None`` (the default) for a plugin
        that sells no licences. With one, the runner verifies the installed key at every
        ``lifecycle.init``, reports the verdict to the daemon (``toructl plugin show`` and the
        dashboard show it) and puts it in ``ctx.license``; see :meth:`Context.require_license`."""
        return None

    async def handle_http(self, request: Request) -> Response:
        """Answers one HTTP request for the plugin's routes. A :class:`PluginError` raised here
        becomes a JSON error response with its status; any other exception a 500."""
        raise NotImplementedError

    def frontend_bundle(self) -> Optional[bytes]:
        """The dashboard view: one ES module exporting ``mount(container, api)`` and
        ``unmount(container)``. The runner serves it for the daemon's ``GET /_toru/bundle.js``;
        ``None`` means the plugin has no view (404). Return cached bytes: it runs per request."""
        return None

    async def shutdown(self) -> None:
        """Called once before the process exits, after in-flight requests finished (or were
        given up on)."""


def with_declared_defaults(metadata: dict, config: dict) -> dict:
    """``config`` with the default of every setting ``metadata["settings"]`` declares and
    ``config`` lacks. The daemon sends them filled in already; doing it here too means a plugin
    under a test daemon sees the same values."""
    properties = (metadata.get("settings") or {}).get("properties") or {}
    filled = dict(config)
    for name, spec in properties.items():
        if isinstance(spec, dict) and "default" in spec:
            filled.setdefault(name, spec["default"])
    return filled


@dataclass
class Context:
    """What the daemon said in ``lifecycle.init``, plus the KV handle."""

    instance_id: str
    plugin_id: str
    #: The administrator's settings, validated by the daemon against the ``settings`` schema of
    #: :meth:`Plugin.metadata`, with the declared defaults filled in; ``{}`` without settings.
    #: Read them with :meth:`setting_str` and its siblings.
    config: dict
    kv: Kv
    #: The licence key the administrator installed, unverified; ``None`` when none.
    license_key: Optional[str] = None
    #: The runner's verdict on it: a ``toru_license.License`` or ``toru_license.LicenseError``;
    #: ``None`` when the plugin has no :meth:`Plugin.license_verifier`.
    license: Any = None

    def setting(self, name: str) -> Any:
        """The value of setting ``name`` (set, or its default), or ``None`` when it has none."""
        return self.config.get(name)

    def setting_str(self, name: str) -> Optional[str]:
        """The string setting ``name``; ``None`` when it has no value or is not a string."""
        value = self.config.get(name)
        return value if isinstance(value, str) else None

    def setting_int(self, name: str) -> Optional[int]:
        """The integer setting ``name``; ``None`` when it has no value or is not an integer."""
        value = self.config.get(name)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def setting_float(self, name: str) -> Optional[float]:
        """The number setting ``name``; ``None`` when it has no value or is not a number."""
        value = self.config.get(name)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if ok else None

    def setting_bool(self, name: str) -> Optional[bool]:
        """The boolean setting ``name``; ``None`` when it has no value or is not a boolean."""
        value = self.config.get(name)
        return value if isinstance(value, bool) else None

    def require_license(self) -> Any:
        """The verified licence if it is still unexpired now; else raises :class:`Unlicensed`
        (402 without a key, 403 with a bad or expired one) for the handler to propagate."""
        import toru_license
        if self.license is None:
            raise PluginError("this plugin checks no licences: it has no license_verifier")
        if isinstance(self.license, toru_license.LicenseError):
            raise Unlicensed(self.license.kind, str(self.license))
        try:
            self.license.check_expiry()
        except toru_license.LicenseError as e:
            raise Unlicensed(e.kind, str(e)) from None
        return self.license


class Kv:
    """The plugin's private key-value store, kept by the daemon. Every call is a ``kv.request``
    on the current daemon connection; the same handle keeps working after the daemon reconnects.

    Raises :class:`Disconnected` at once when there is no connection (or it drops mid-call),
    :class:`Timeout` when the daemon does not answer in time, :class:`KvError` when it refuses.
    """

    def __init__(self, timeout: float = KV_TIMEOUT) -> None:
        self._timeout = timeout
        self._connection: Optional[_Connection] = None
        self._ids = itertools.count(1)

    async def get(self, key: str) -> Optional[str]:
        """The value of ``key``, or ``None`` when absent."""
        return (await self._call(KvRequest("get", key=_check_str("key", key)), "get")).value

    async def set(self, key: str, value: str) -> None:
        """Stores ``value`` under ``key``; returns once the daemon has made it durable."""
        op = KvRequest("set", key=_check_str("key", key), value=_check_str("value", value))
        await self._call(op, "set")

    async def delete(self, key: str) -> bool:
        """Removes ``key``; ``True`` when it existed."""
        return bool((await self._call(KvRequest("delete", key=_check_str("key", key)),
                                      "delete")).existed)

    async def list(self, prefix: str = "") -> list:
        """The keys starting with ``prefix``, sorted."""
        result = await self._call(KvRequest("list", prefix=_check_str("prefix", prefix)), "list")
        return list(result.keys or [])

    # The runner's side: which connection KV calls go to.

    def _attach(self, connection: _Connection) -> None:
        self._connection = connection

    def _detach(self, connection: _Connection) -> None:
        if self._connection is connection:
            self._connection = None

    async def _call(self, op: KvRequest, expected: str) -> KvResult:
        connection = self._connection
        if connection is None or connection.closed:
            raise Disconnected()
        request_id = f"p-{next(self._ids)}"
        waiter = asyncio.get_running_loop().create_future()
        connection.pending[request_id] = waiter
        try:
            try:
                sent = await connection.send(Message("kv.request", request_id, op))
            except FrameTooLarge as e:
                raise KvError(str(e)) from None
            if not sent:
                raise Disconnected()
            try:
                result = await asyncio.wait_for(waiter, self._timeout)
            except asyncio.TimeoutError:
                raise Timeout("timed out waiting for a kv.response") from None
        finally:
            connection.pending.pop(request_id, None)
        if result.op != expected:
            raise KvError(f"daemon answered with the wrong kind of result: {result.op!r}")
        return result


def _check_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"KV {name} must be a str, not {type(value).__name__}")
    return value


def read_resource(module_name: str, relative_path: str) -> bytes:
    """Reads a data file shipped next to module ``module_name`` (e.g. ``"frontend/bundle.js"``),
    from a source checkout or from inside a zipapp alike.

    ``open()`` cannot reach into a zip, and ``importlib.resources.files`` needs a package in
    3.11; the module's own loader (a file loader or ``zipimporter``) can read either. Read once
    at start-up: ``zipimporter`` re-opens the archive by path, so a plugin file replaced on disk
    while running would give it the new archive's bytes at the old offsets."""
    module = sys.modules[module_name]
    file = getattr(module, "__file__", None)
    get_data = getattr(getattr(module, "__loader__", None), "get_data", None)
    if file is None or get_data is None:
        raise FileNotFoundError(f"module {module_name} was not loaded from a file or archive")
    return get_data(os.path.join(os.path.dirname(file), *relative_path.split("/")))


# ------------------------------------------------------------------------------------------------
# The runner.

class RunnerError(Exception):
    """The runner cannot serve (the socket cannot be prepared or bound)."""


class NotASocketError(RunnerError):
    """The socket path is taken by something that is not a socket; it is never deleted."""


@dataclass
class ServeOptions:
    """How the runner serves. Defaults are the protocol's limits; tests lower them."""

    socket: str
    max_frame: int = MAX_FRAME
    max_in_flight: int = MAX_IN_FLIGHT
    drain_timeout: float = DRAIN_TIMEOUT
    kv_timeout: float = KV_TIMEOUT


def _bind_fresh(path: str) -> socket.socket:
    """Binds and listens on ``path``, replacing a stale socket left by a previous run but never
    any other kind of file (nor following a symlink)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise RunnerError(f"cannot listen on {path}: {e}") from None
    if mode is not None and not stat.S_ISSOCK(mode):
        raise NotASocketError(f"{path} exists and is not a socket; refusing to replace it")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if mode is not None:
            os.unlink(path)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        sock.bind(path)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        raise RunnerError(f"cannot listen on {path}: {e}") from None
    return sock


def _remove_socket(path: str) -> None:
    """Removes our socket file; leaves anything else that may have replaced it."""
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except OSError:
        pass


def _check_response(response: object) -> Response:
    """Refuses what a handler returned unless it can go on the wire, so a mistake becomes a
    logged 500 instead of a frame the daemon rejects (or no answer at all)."""
    if not isinstance(response, Response):
        raise TypeError(f"handle_http returned {type(response).__name__}, not a Response")
    if not _is_int(response.status) or not 100 <= response.status <= 599:
        raise ValueError(f"response status {response.status!r} is not 100-599")
    if not isinstance(response.body, (bytes, bytearray, memoryview)):
        raise TypeError(f"response body is {type(response.body).__name__}, not bytes")
    response.body = bytes(response.body)
    response.headers = _normalise_headers(response.headers)  # in case it was changed after init
    return response


class _Connection:
    """One daemon connection: the reader routes frames, each request runs in its own task, and
    replies are written whole (asyncio writes are atomic per call, so frames never interleave).
    """

    def __init__(self, runner: _Runner, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.runner = runner
        self.reader = reader
        self.writer = writer
        self.closed = False
        self.pending: dict = {}          # KV request id -> future awaiting its kv.response
        self.tasks: set = set()          # this connection's in-flight requests
        self._drain_lock = asyncio.Lock()

    # Writing.

    def write_now(self, message: Message) -> bool:
        """Queues one frame without waiting; ``False`` when the connection is gone.

        A reply that cannot be sent (over the frame limit, or not encodable) is replaced by a
        short ``error`` so the daemon's waiter is released; a ``kv.request`` that cannot be sent
        raises :class:`FrameTooLarge` so the KV call fails at once instead of timing out."""
        if self.closed or self.writer.is_closing():
            return False
        try:
            data = encode(message, self.runner.options.max_frame)
        except (FrameTooLarge, ValueError, TypeError) as e:
            if message.type == "kv.request":
                raise FrameTooLarge(f"cannot send kv.request: {e}") from None
            data = self._replacement(message, e)
            if data is None:
                return True
        self.writer.write(data)
        return True

    def _replacement(self, message: Message, problem: Exception) -> Optional[bytes]:
        error(f"cannot send {message.type} for request {message.request_id[:64]!r}: {problem}")
        # An `error` keeps its code with a shorter message; any other reply becomes `internal`.
        code = message.body.code if message.type == "error" else "internal"
        try:
            return encode(Message.error(message.request_id, code,
                                        f"reply cannot be sent: {problem}"),
                          self.runner.options.max_frame)
        except (FrameTooLarge, ValueError, TypeError):
            return None  # the request id itself is unsendable; the daemon will time out

    async def send(self, message: Message) -> bool:
        """Writes one frame and waits while the socket is backed up (backpressure)."""
        if not self.write_now(message):
            return False
        try:
            async with self._drain_lock:
                await self.writer.drain()
        except (ConnectionError, OSError):
            self.close()
            return False
        return True

    def close(self) -> None:
        """Closes the socket; pending writes are flushed first by the transport."""
        if not self.closed:
            self.closed = True
            self.writer.close()

    # Reading.

    async def serve(self) -> None:
        """Reads until EOF, an unrecoverable framing error, or the runner closes us."""
        try:
            fatal = await self._read_loop()
        except Exception:  # noqa: BLE001 - a bug here must not kill the process
            error(f"daemon connection failed:\n{traceback.format_exc()}")
            fatal = True
        finally:
            self.runner.kv._detach(self)
            self._fail_pending()
        if not fatal and self.tasks:
            # The daemon may have only half-closed: let in-flight handlers answer first.
            await asyncio.wait(set(self.tasks))
        self.close()

    async def _read_loop(self) -> bool:
        """Returns ``True`` when the stream became untrustworthy (the caller closes at once)."""
        while True:
            try:
                line = await self.reader.readline()
            except ValueError:  # asyncio's LimitOverrunError, reported as ValueError
                error(f"closing the daemon connection: frame exceeds the "
                      f"{self.runner.options.max_frame}-byte limit")
                return True
            except (ConnectionError, OSError) as e:
                warn(f"daemon connection failed: {e}")
                return True
            if not line:
                return False
            if not line.endswith(b"\n"):
                if line.strip():
                    error(f"closing the daemon connection: closed in the middle of a frame "
                          f"({len(line)} bytes pending)")
                    return True
                return False
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            if line.strip():
                await self._handle_line(line)

    async def _handle_line(self, line: bytes) -> None:
        try:
            message = decode(line)
        except DecodeError as bad:
            warn(f"ignoring bad frame from the daemon: {bad}")
            await self.send(Message.error(bad.request_id or "", bad.code, str(bad)))
            return
        await self._dispatch(message)

    async def _dispatch(self, message: Message) -> None:
        kind, request_id = message.type, message.request_id
        if kind == "ping":
            await self.send(Message("pong", request_id))
        elif kind in ("http.request", "lifecycle.init"):
            await self._start_request(message)
        elif kind == "kv.response":
            if not self._resolve(request_id, message.body):
                warn(f"kv.response for unknown request {request_id[:64]!r} ignored")
        elif kind == "error":
            if not self._resolve(request_id, message.body):
                warn(f"daemon reported an error for {request_id[:64]!r}: "
                     f"{message.body.code[:64]}: {message.body.message[:1024]}")
        elif kind == "lifecycle.shutdown":
            info("shutdown requested by the daemon")
            self.runner.request_stop()
        else:
            await self.send(Message.error(request_id, "unknown_type",
                                          f"a plugin does not accept {kind}"))

    # Requests.

    async def _start_request(self, message: Message) -> None:
        """Runs a request in its own task, or refuses it at once: the reader never waits on a
        handler, so one slow request cannot hold up the others, pings or KV answers."""
        if self.runner.stopping.is_set():
            await self.send(Message.error(message.request_id, "unavailable", "shutting down"))
            return
        if len(self.tasks) >= self.runner.options.max_in_flight:
            await self.send(Message.error(message.request_id, "unavailable",
                                          "too many requests in flight"))
            return
        if message.type == "http.request":
            work = self._answer_http(message.request_id, message.body)
        else:
            work = self._answer_init(message.request_id, message.body)
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        self.runner.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        self.runner.tasks.discard(task)

    async def _answer_init(self, request_id: str, init: Init) -> None:
        if init.protocol_version != PROTOCOL_VERSION:
            await self.send(Message.error(
                request_id, "unsupported_version",
                f"daemon speaks protocol {init.protocol_version}, plugin speaks {PROTOCOL_VERSION}"))
            return
        verdict, report = self._check_license(init)
        config = with_declared_defaults(self.runner.plugin.metadata(), init.config)
        ctx = Context(init.instance_id, init.plugin_id, config, self.runner.kv,
                      init.license, verdict)
        try:
            await self.runner.plugin.init(ctx)
        except asyncio.CancelledError:
            self.write_now(Message.error(request_id, "unavailable", "shutting down"))
            raise
        except Exception as e:  # noqa: BLE001 - the plugin refused; tell the daemon why
            error(f"init failed:\n{traceback.format_exc()}")
            await self.send(Message.error(request_id, "internal", str(e) or type(e).__name__))
            return
        await self.send(Message("lifecycle.ready", request_id, Ready(PROTOCOL_VERSION, report)))

    def _check_license(self, init: Init) -> tuple:
        """(verdict, report): the plugin's licence checked with its verifier, as ``ctx.license``
        and as the ``license`` of ``lifecycle.ready``; ``(None, None)`` without a verifier."""
        plugin = self.runner.plugin
        verifier = plugin.license_verifier()
        if verifier is None:
            return None, None
        import toru_license
        try:
            licence = toru_license.verify(init.license, verifier, plugin.metadata()["id"],
                                          init.instance_id)
        except toru_license.LicenseError as e:
            return e, {"state": "invalid", "error": e.kind, "message": str(e)}
        report: dict[str, Any] = {"state": "valid", "licensee": licence.licensee}
        if licence.expires_at is not None:
            report["expires_at"] = licence.expires_at
        if licence.features:
            report["features"] = list(licence.features)
        return licence, report

    async def _answer_http(self, request_id: str, request: Request) -> None:
        try:
            response = await self._respond(request)
        except asyncio.CancelledError:
            # Given up on at shutdown: release the daemon's waiter instead of leaving it to time out.
            self.write_now(Message.error(request_id, "unavailable", "shutting down"))
            raise
        await self.send(Message("http.response", request_id, response))

    async def _respond(self, request: Request) -> Response:
        """The plugin's answer, with every failure turned into an HTTP error response."""
        try:
            if request.path.startswith(RESERVED_PREFIX):
                return self._serve_reserved(request)
            return _check_response(await self.runner.plugin.handle_http(request))
        except PluginError as e:
            return e.to_response()
        except Exception:  # noqa: BLE001 - a handler bug is a 500, logged with its traceback
            error(f"{request.method} {request.path} failed:\n{traceback.format_exc()}")
            return PluginError("internal error (see the plugin's log)").to_response()

    def _serve_reserved(self, request: Request) -> Response:
        """Answers the daemon's reserved requests; today only the frontend bundle."""
        if request.method == "GET" and request.path == "/_toru/bundle.js":
            bundle = self.runner.plugin.frontend_bundle()
            if bundle is not None:
                return Response(200, [("content-type", "text/javascript; charset=utf-8")],
                                bytes(bundle))
        return Response.not_found()

    # KV replies.

    def _resolve(self, request_id: str, outcome: Any) -> bool:
        """Hands a ``kv.response`` or ``error`` to the KV call waiting for it. ``False`` when
        nobody waits (the call timed out, or the id was never sent)."""
        waiter = self.pending.pop(request_id, None)
        if waiter is None or waiter.done():
            return False
        if isinstance(outcome, ErrorPayload):
            waiter.set_exception(KvError(outcome.message, outcome.code))
        else:
            waiter.set_result(outcome)
        return True

    def _fail_pending(self) -> None:
        """Fails every outstanding KV call at once: the connection is gone."""
        pending, self.pending = self.pending, {}
        for waiter in pending.values():
            if not waiter.done():
                waiter.set_exception(Disconnected("the daemon connection closed"))


class _Runner:
    """State shared by every connection of one :func:`serve` call."""

    def __init__(self, plugin: Plugin, options: ServeOptions) -> None:
        self.plugin = plugin
        self.options = options
        self.kv = Kv(options.kv_timeout)
        self.stopping = asyncio.Event()
        self.tasks: set = set()          # every in-flight request, for the drain
        self.connections: dict = {}      # _Connection -> the task serving it

    def request_stop(self) -> None:
        self.stopping.set()

    async def on_connect(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        connection = _Connection(self, reader, writer)
        self.connections[connection] = asyncio.current_task()
        # KV calls go to the newest connection: after a daemon restart, the new one.
        self.kv._attach(connection)
        try:
            await connection.serve()
        finally:
            self.connections.pop(connection, None)

    async def drain(self) -> None:
        """Waits for in-flight requests, then gives up on (cancels) the stragglers."""
        if not self.tasks:
            return
        _, late = await asyncio.wait(set(self.tasks), timeout=self.options.drain_timeout)
        if late:
            warn(f"shutdown: {len(late)} in-flight request(s) did not finish in time")
            for task in late:
                task.cancel()
            await asyncio.wait(late, timeout=1.0)

    async def close_connections(self) -> None:
        for connection in list(self.connections):
            connection.close()
        tasks = [t for t in self.connections.values() if t is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=1.0)
            for connection in list(self.connections):
                connection.writer.transport.abort()  # a peer not reading: stop waiting on it
            for task in late:
                task.cancel()


def _log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """asyncio's unhandled errors, at error priority instead of unprefixed on stderr."""
    exc = context.get("exception")
    detail = "".join(traceback.format_exception(exc)) if exc else ""
    error(f"asyncio: {context.get('message', 'unhandled error')}\n{detail}".rstrip())


async def serve(plugin: Plugin, options: ServeOptions,
                stop: Optional[asyncio.Event] = None) -> None:
    """Serves ``plugin`` on ``options.socket`` until ``lifecycle.shutdown`` arrives or ``stop``
    is set. Then refuses new work (``unavailable``), waits for in-flight requests (up to
    ``options.drain_timeout``; KV calls keep working meanwhile), calls ``plugin.shutdown()``,
    closes the connections and removes the socket file. Raises :class:`RunnerError` when the
    socket cannot be bound."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_log_loop_exception)
    runner = _Runner(plugin, options)
    sock = _bind_fresh(options.socket)
    watcher = None
    try:
        server = await asyncio.start_unix_server(runner.on_connect, sock=sock,
                                                 limit=options.max_frame)
        info(f"listening on {options.socket}")
        if stop is not None:
            watcher = loop.create_task(_relay(stop, runner.stopping))
        await runner.stopping.wait()
        server.close()  # stop accepting; existing connections keep reading KV answers
        await runner.drain()
        try:
            await plugin.shutdown()
        except Exception:  # noqa: BLE001 - exit cleanly anyway
            error(f"plugin shutdown failed:\n{traceback.format_exc()}")
        await runner.close_connections()
    finally:
        if watcher is not None:
            watcher.cancel()
        sock.close()
        _remove_socket(options.socket)
    info("stopped")


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


# ------------------------------------------------------------------------------------------------
# The command line.

USAGE = """usage: PLUGIN --metadata | PLUGIN [--socket PATH]

  --metadata      print the plugin's metadata as JSON and exit
  --socket PATH   listen on PATH (default: $TORU_PLUGIN_SOCKET)
"""


class UsageError(Exception):
    """The command line made no sense; exit status 2."""


def parse_args(argv: Iterable[str], env_socket: Optional[str]) -> tuple:
    """``("metadata", None)``, ``("help", None)`` or ``("serve", path)``, like the Rust runner:
    ``--metadata`` wins as soon as it is seen, the flag beats the environment."""
    socket_path = env_socket or None
    args = iter(argv)
    for arg in args:
        if arg == "--metadata":
            return ("metadata", None)
        if arg in ("-h", "--help"):
            return ("help", None)
        if arg == "--socket":
            socket_path = next(args, None)
            if not socket_path:
                raise UsageError("--socket needs a PATH")
        elif arg.startswith("--socket="):
            socket_path = arg[len("--socket="):]
        else:
            raise UsageError(f"unknown argument {arg!r}")
    if not socket_path:
        raise UsageError(f"no socket given: pass --socket PATH or set {SOCKET_ENV}")
    return ("serve", socket_path)


def _print_metadata(plugin: Plugin) -> int:
    try:
        meta = plugin.metadata()
        validate_metadata(meta)
        text = json.dumps(meta, separators=(",", ":"), ensure_ascii=False)
    except Exception as e:  # noqa: BLE001 - report any failure as a failed --metadata
        error(f"invalid metadata: {e}")
        return 1
    sys.stdout.buffer.write(text.encode("utf-8") + b"\n")
    sys.stdout.flush()
    return 0


async def _serve_until_signalled(plugin: Plugin, options: ServeOptions) -> None:
    """SIGTERM (systemd) and SIGINT (a terminal) stop the plugin the same way as
    ``lifecycle.shutdown``: drain, ``shutdown()``, remove the socket, exit 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(plugin, options, stop)


def main(plugin: Plugin, argv: Optional[list] = None) -> int:
    """The whole ``main`` of a plugin, returning the exit status (see :func:`run`)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        command, socket_path = parse_args(argv, os.environ.get(SOCKET_ENV))
    except UsageError as e:
        error(f"{e}\n{USAGE}")
        return 2
    if command == "metadata":
        return _print_metadata(plugin)
    if command == "help":
        sys.stdout.write(USAGE)
        return 0
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(_PrefixHandler())
    try:
        asyncio.run(_serve_until_signalled(plugin, ServeOptions(socket_path)))
    except RunnerError as e:
        error(str(e))
        return 1
    return 0


def run(plugin: Plugin, argv: Optional[list] = None) -> NoReturn:
    """Handles ``--metadata`` (print JSON, exit 0) and ``--socket PATH`` / ``$TORU_PLUGIN_SOCKET``
    (serve until ``lifecycle.shutdown``, SIGTERM or SIGINT, exit 0); a usage error exits 2."""
    sys.exit(main(plugin, argv))
