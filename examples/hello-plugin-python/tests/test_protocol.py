"""The protocol as data: encoding, decoding, the protocol doc's examples, helpers and the command
line. No sockets here (see test_runner.py)."""

from __future__ import annotations

import json
import unittest

from toru_test_support import doc_blocks

import toru_plugin as toru
from toru_plugin import (
    DecodeError, ErrorPayload, FrameTooLarge, Init, KvRequest, KvResult, Message, Ready, Request,
    Response, decode, encode,
)

ALL_TYPES = {"lifecycle.init", "lifecycle.ready", "lifecycle.shutdown", "http.request",
             "http.response", "kv.request", "kv.response", "ping", "pong", "error"}


def one_of_each() -> list:
    """A message of every type, with every optional field exercised somewhere."""
    return [
        Message("lifecycle.init", "d-1", Init(1, "hello-python", "uuid", {"a": [1, {"b": None}]})),
        Message("lifecycle.ready", "d-1", Ready(1)),
        Message("lifecycle.shutdown", "d-2"),
        Message("http.request", "d-3", Request("POST", "/x", "a=1&b=2",
                                               [("accept", "*/*"), ("x", "1"), ("x", "2")],
                                               b"\x00\xff\n binary", "ada")),
        Message("http.request", "d-4", Request("GET", "/")),
        Message("http.response", "d-3", Response(201, [("content-type", "text/plain")], b"ok")),
        Message("http.response", "d-4", Response(204)),
        Message("kv.request", "p-1", KvRequest("get", key="k")),
        Message("kv.request", "p-2", KvRequest("set", key="k", value="v\nü")),
        Message("kv.request", "p-3", KvRequest("delete", key="k")),
        Message("kv.request", "p-4", KvRequest("list", prefix="co")),
        Message("kv.response", "p-1", KvResult("get", value=None)),
        Message("kv.response", "p-1", KvResult("get", value="")),
        Message("kv.response", "p-2", KvResult("set")),
        Message("kv.response", "p-3", KvResult("delete", existed=False)),
        Message("kv.response", "p-4", KvResult("list", keys=["counter", "cow"])),
        Message("ping", "d-5"),
        Message("pong", "d-5"),
        Message("error", "", ErrorPayload("malformed_frame", "no")),
        Message("error", "d-6", ErrorPayload("a_code_from_the_future", "kept as sent")),
    ]


class EncodingTest(unittest.TestCase):
    def test_every_message_type_round_trips(self) -> None:
        messages = one_of_each()
        self.assertEqual({m.type for m in messages}, ALL_TYPES)
        for message in messages:
            with self.subTest(message.type, request_id=message.request_id):
                line = encode(message)
                self.assertTrue(line.endswith(b"\n"))
                self.assertEqual(line.count(b"\n"), 1, "a frame is exactly one line")
                self.assertEqual(decode(line[:-1]), message)

    def test_frames_are_compact_with_the_envelope_first(self) -> None:
        line = encode(Message("ping", "d-1", timestamp=5))
        self.assertEqual(line, b'{"type":"ping","timestamp":5,"request_id":"d-1","payload":{}}\n')

    def test_utf8_is_written_raw_and_read_back(self) -> None:
        line = encode(Message("kv.request", "p-1", KvRequest("set", key="k", value="🐍")))
        self.assertIn("🐍".encode(), line)
        self.assertEqual(decode(line).body.value, "🐍")

    def test_an_absent_user_is_omitted_not_null(self) -> None:
        payload = json.loads(encode(Message("http.request", "d", Request("GET", "/"))))["payload"]
        self.assertNotIn("user", payload)

    def test_a_frame_over_the_limit_is_refused(self) -> None:
        message = Message("http.response", "d-1", Response(200, [], b"x" * 3000))
        self.assertGreater(len(encode(message, max_frame=5000)), 4000)
        with self.assertRaises(FrameTooLarge):
            encode(message, max_frame=3000)  # base64 makes the body a third bigger

    def test_the_limit_is_exact(self) -> None:
        line = encode(Message("ping", "d-1"))
        size = len(line) - 1
        self.assertEqual(encode(Message("ping", "d-1", timestamp=decode(line).timestamp),
                                max_frame=size), line)
        with self.assertRaises(FrameTooLarge):
            encode(decode(line), max_frame=size - 1)


class ProtocolDocTest(unittest.TestCase):
    """docs/protocol.md's examples are the golden frames (as in the Rust SDK's tests)."""

    def test_every_valid_example_decodes_and_re_encodes_to_the_same_json(self) -> None:
        lines = doc_blocks("ndjson") + doc_blocks("json frame")
        self.assertGreaterEqual(len(lines), 15, "expected the doc's examples")
        seen = set()
        for line in lines:
            with self.subTest(line=line):
                message = decode(line)
                seen.add(message.type)
                self.assertEqual(json.loads(encode(message)), json.loads(line))
        self.assertEqual(seen, ALL_TYPES, "docs/protocol.md should show every type")

    def test_the_http_example_bodies_decode_to_what_the_doc_says(self) -> None:
        lines = doc_blocks("ndjson")
        request = decode(next(l for l in lines if '"http.request"' in l)).body
        self.assertEqual(request.body, b'{"by":1}')
        self.assertEqual(request.json(), {"by": 1})
        self.assertEqual(request.header("Content-Type"), "application/json")
        self.assertEqual(request.query, "step=1")
        self.assertEqual(request.user, "admin")
        response = decode(next(l for l in lines if '"http.response"' in l)).body
        self.assertEqual(response.body, b'{"count":1}')

    def test_every_invalid_example_is_refused_with_its_code(self) -> None:
        expected = [
            "malformed_frame",  # not JSON at all
            "malformed_frame",  # JSON, but not an object
            "malformed_frame",  # envelope without its timestamp
            "unknown_type",     # a type nobody knows
            "bad_payload",      # http.request without its method
            "bad_payload",      # a body that is not base64
            "bad_payload",      # a kv op that does not exist
        ]
        lines = doc_blocks("ndjson-invalid")
        self.assertEqual(len(lines), len(expected), "one expectation per invalid example")
        for line, code in zip(lines, expected):
            with self.subTest(line=line):
                with self.assertRaises(DecodeError) as caught:
                    decode(line)
                self.assertEqual(caught.exception.code, code, str(caught.exception))
                if code == "malformed_frame":
                    self.assertIsNone(caught.exception.request_id)
                else:  # once the envelope parsed, the error knows which request to answer
                    self.assertEqual(caught.exception.request_id, json.loads(line)["request_id"])
        self.assertIn("method", str(_refusal(lines[4])))
        self.assertIn("base64", str(_refusal(lines[5])))
        self.assertIn("metrics.request", str(_refusal(lines[3])))

    def test_the_metadata_example_is_valid(self) -> None:
        meta = json.loads(doc_blocks("json metadata")[0])
        toru.validate_metadata(meta)
        self.assertEqual(meta["id"], "hello-rust")


def _refusal(line: str | bytes) -> DecodeError:
    try:
        decode(line)
    except DecodeError as e:
        return e
    raise AssertionError(f"{line!r} was accepted")


def env(type_: str = "ping", payload: object = None, **envelope: object) -> str:
    raw = {"type": type_, "timestamp": 1, "request_id": "r-1"}
    if payload is not None:
        raw["payload"] = payload
    raw.update(envelope)
    return json.dumps(raw)


class BadInputTest(unittest.TestCase):
    """Beyond the doc's examples: what serde refuses on the Rust side is refused here too."""

    def assert_refused(self, line: str | bytes, code: str) -> None:
        self.assertEqual(_refusal(line).code, code, line)

    def test_malformed_frames(self) -> None:
        cases = [
            b"\xff\xfe not utf-8",
            "",
            "null",
            '"a string"',
            "[" * 100_000,                              # deep nesting: no RecursionError escapes
            env(timestamp=1.5),
            env(timestamp=-1),
            env(timestamp=True),
            env(timestamp=2 ** 64),
            env(timestamp="1"),
            env(request_id=7),
            env(type=None),
            '{"type":"ping","timestamp":NaN,"request_id":"r","payload":{}}',
            '{"type":"ping","timestamp":1,"request_id":"r","payload":{}} trailing',
        ]
        for line in cases:
            with self.subTest(line=line[:60]):
                self.assert_refused(line, "malformed_frame")

    def test_bad_payloads(self) -> None:
        cases = [
            env("ping", payload=[]),
            env("http.request", {"method": "GET"}),
            env("http.request", {"method": 1, "path": "/"}),
            env("http.request", {"method": "GET", "path": "/", "query": None}),
            env("http.request", {"method": "GET", "path": "/", "headers": [["a"]]}),
            env("http.request", {"method": "GET", "path": "/", "headers": [["a", 1]]}),
            env("http.request", {"method": "GET", "path": "/", "headers": {"a": "b"}}),
            env("http.request", {"method": "GET", "path": "/", "body": "YQ"}),    # no padding
            env("http.request", {"method": "GET", "path": "/", "body": "YR=="}),  # trailing bits
            env("http.request", {"method": "GET", "path": "/", "body": "YQ==\n"}),
            env("http.request", {"method": "GET", "path": "/", "body": "Y-8="}),  # url-safe
            env("http.request", {"method": "GET", "path": "/", "user": 5}),
            env("http.response", {"status": 70000}),
            env("http.response", {"status": "200"}),
            env("lifecycle.init", {"protocol_version": 1, "plugin_id": "x"}),
            env("lifecycle.init", {"protocol_version": -1, "plugin_id": "x", "instance_id": "i"}),
            env("lifecycle.init", {"protocol_version": 1, "plugin_id": "x", "instance_id": "i",
                                   "config": None}),
            env("lifecycle.ready", {}),
            env("kv.request", {"op": "set", "key": "k"}),
            env("kv.request", {"key": "k"}),
            env("kv.response", {"op": "delete"}),
            env("kv.response", {"op": "list", "keys": [1]}),
            env("kv.response", {"op": "get", "value": 3}),
            env("error", {"code": "internal"}),
        ]
        for line in cases:
            with self.subTest(line=line):
                self.assert_refused(line, "bad_payload")
                self.assertEqual(_refusal(line).request_id, "r-1")

    def test_lenient_where_the_protocol_is(self) -> None:
        # No payload, or null, means an empty one; unknown fields are ignored (newer peers).
        self.assertEqual(decode(env("ping")).type, "ping")
        self.assertEqual(decode(env("ping", payload=None, payload_extra=1)).type, "ping")
        self.assertEqual(decode('{"type":"pong","timestamp":1,"request_id":"r","payload":null}')
                         .type, "pong")
        request = decode(env("http.request", {"method": "GET", "path": "/", "new_field": 1})).body
        self.assertEqual((request.query, request.headers, request.body, request.user),
                         ("", [], b"", None))
        self.assertIsNone(decode(env("kv.response", {"op": "get"})).body.value)
        self.assertEqual(decode(env("kv.request", {"op": "list"})).body.prefix, "")
        self.assertEqual(decode(env("http.request", {"method": "GET", "path": "/",
                                                     "user": None})).body.user, None)


class HelpersTest(unittest.TestCase):
    def test_request_helpers(self) -> None:
        request = Request("POST", "/x", headers=[("x-a", "1"), ("X-A", "2")], body=b"{bad")
        self.assertEqual(request.header("X-a"), "1")
        self.assertIsNone(request.header("missing"))
        with self.assertRaises(toru.BadRequest):
            request.json()

    def test_response_helpers(self) -> None:
        response = Response.json({"ü": 1}, status=201)
        self.assertEqual((response.status, response.headers),
                         (201, [("content-type", "application/json")]))
        self.assertEqual(json.loads(response.body), {"ü": 1})
        text = Response.text("hi")
        self.assertEqual((text.status, text.body), (200, b"hi"))
        self.assertTrue(text.headers[0][1].startswith("text/plain"))
        missing = Response.not_found()
        self.assertEqual(missing.status, 404)
        self.assertEqual(json.loads(missing.body)["error"]["code"], "not_found")
        self.assertEqual(Response(200, {"a": "b"}).headers, [("a", "b")])

    def test_errors_map_to_statuses_and_json_bodies(self) -> None:
        cases = [(toru.BadRequest("x"), 400, "bad_request"), (toru.NotFound("x"), 404, "not_found"),
                 (toru.KvError("x"), 500, "kv_failed"), (toru.Disconnected(), 503, "unavailable"),
                 (toru.Timeout("x"), 504, "timeout"), (toru.PluginError("x"), 500, "internal")]
        for exc, status, code in cases:
            with self.subTest(type(exc).__name__):
                response = exc.to_response()
                self.assertEqual(response.status, status)
                body = json.loads(response.body)
                self.assertEqual(body["error"]["code"], code)
                self.assertEqual(body["error"]["message"], str(exc))


class MetadataTest(unittest.TestCase):
    GOOD = {"id": "hello-python", "name": "Hello", "version": "1", "route": "/hello-python",
            "protocol_version": 1}

    def test_valid(self) -> None:
        toru.validate_metadata(self.GOOD)
        toru.validate_metadata({**self.GOOD, "icon": "🐍", "author": "", "extra": [1]})
        toru.validate_metadata({**self.GOOD, "permissions": {"jit": True}})
        toru.validate_metadata({**self.GOOD, "permissions": {
            "network": False, "jit": False, "writable_paths": ["/srv/x"], "devices": []}})

    def test_invalid(self) -> None:
        bad = [{"id": "Hello"}, {"id": "-x"}, {"id": "a" * 64}, {"id": "a.b"}, {"route": "x"},
               {"route": "/a//b"}, {"route": "/A"}, {"route": "/" + "a" * 128},
               {"protocol_version": 2}, {"protocol_version": True}, {"name": " "},
               {"version": ""}, {"icon": 5}, {"author": None}, {"permissions": []},
               {"permissions": {"jit": "yes"}}, {"permissions": {"jti": True}},
               {"permissions": {"devices": "/dev/x"}}, {"permissions": {"writable_paths": [1]}}]
        for change in bad:
            with self.subTest(change=change), self.assertRaises(ValueError):
                toru.validate_metadata({**self.GOOD, **change})
        for missing in ("id", "name", "version", "route", "protocol_version"):
            meta = dict(self.GOOD)
            del meta[missing]
            with self.subTest(missing=missing), self.assertRaises(ValueError):
                toru.validate_metadata(meta)


class CommandLineTest(unittest.TestCase):
    def test_parses_the_command_line_like_the_rust_runner(self) -> None:
        cases = [
            (["--metadata"], None, ("metadata", None)),
            (["--socket", "/a", "--metadata"], None, ("metadata", None)),
            (["--socket", "/a"], None, ("serve", "/a")),
            (["--socket=/b"], None, ("serve", "/b")),
            ([], "/env", ("serve", "/env")),
            (["--socket", "/a"], "/env", ("serve", "/a")),
            (["--help"], None, ("help", None)),
            ([], None, None),
            ([], "", None),
            (["--socket"], None, None),
            (["--frobnicate"], None, None),
        ]
        for argv, env_socket, expected in cases:
            with self.subTest(argv=argv, env=env_socket):
                if expected is None:
                    with self.assertRaises(toru.UsageError):
                        toru.parse_args(argv, env_socket)
                else:
                    self.assertEqual(toru.parse_args(argv, env_socket), expected)


if __name__ == "__main__":
    unittest.main()
