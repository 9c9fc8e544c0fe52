"""The runner over a real Unix socket in a temporary directory, with the test as the daemon.

Nothing here sleeps to make a point: ordering is forced with asyncio.Events the test controls,
and every wait has a generous upper bound (WAIT) that only a hang would reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import tempfile
import unittest

from toru_test_support import WAIT, TestDaemon, body_of, doc_blocks, frame, http, json_of

import toru_plugin as toru
from toru_plugin import Response

BUNDLE = b"export function mount() {}\nexport function unmount() {}\n"


class Probe(toru.Plugin):
    """A plugin whose routes each exercise one runner behaviour."""

    def __init__(self, bundle: bytes | None = BUNDLE) -> None:
        self.bundle = bundle
        self.gate = asyncio.Event()            # /slow requests wait for the test to open it
        self.contexts: list = []
        self.kv_failures: asyncio.Queue = asyncio.Queue()
        self.shutdown_calls = 0

    def metadata(self) -> dict:
        return {"id": "probe", "name": "Probe", "version": "1", "route": "/probe",
                "protocol_version": toru.PROTOCOL_VERSION}

    async def init(self, ctx: toru.Context) -> None:
        if ctx.config.get("refuse"):
            raise RuntimeError("refused by config")
        if ctx.config.get("kv_in_init"):
            self.init_value = await ctx.kv.get("setting")
        self.contexts.append(ctx)

    def frontend_bundle(self) -> bytes | None:
        return self.bundle

    async def shutdown(self) -> None:
        self.shutdown_calls += 1

    @property
    def kv(self) -> toru.Kv:
        return self.contexts[-1].kv

    async def handle_http(self, request: toru.Request) -> Response:
        path = request.path
        if path.startswith("/fast"):
            return Response.text(path)
        if path.startswith("/slow"):
            await self.gate.wait()
            if path.startswith("/slow-kv"):
                return Response.json({"value": await self.kv.get("k")})
            return Response.text(path)
        if path == "/hang":
            await asyncio.Event().wait()
        if path == "/kv":
            return Response.json(await self.kv_round_trip())
        if path == "/kv-get":
            try:
                return Response.json({"value": await self.kv.get("k")})
            except toru.PluginError as e:
                self.kv_failures.put_nowait(e)
                raise
        if path == "/bad-request":
            raise toru.BadRequest("no thanks")
        if path == "/crash":
            raise RuntimeError("secret detail")
        if path == "/not-a-response":
            return "oops"  # type: ignore[return-value]
        if path == "/bad-status":
            return Response(1000)
        if path == "/big":
            return Response(200, [], b"x" * 10_000)
        if path == "/echo":
            return Response.json({"user": request.user, "json": request.json(),
                                  "accept": request.header("Accept")})
        return Response.not_found()

    async def kv_round_trip(self) -> dict:
        kv = self.kv
        await kv.set("a", "1")
        await kv.set("b", "two")
        results = {"get": await kv.get("a"), "missing": await kv.get("zzz"),
                   "list": await kv.list(), "list_b": await kv.list("b")}
        results["deleted"] = await kv.delete("a")
        results["deleted_again"] = await kv.delete("a")
        return results


class RunnerCase(unittest.IsolatedAsyncioTestCase):
    """Starts :func:`toru.serve` in the test's loop on a socket in a fresh temp directory, with
    the SDK's stderr captured in :attr:`log`."""

    options: dict = {}

    async def asyncSetUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.socket = os.path.join(self.dir, "plugin.sock")
        self.log = io.StringIO()
        self._stderr = contextlib.redirect_stderr(self.log)
        self._stderr.__enter__()
        self.plugin = Probe()
        self.stop = asyncio.Event()
        self.server: asyncio.Task | None = None
        self.daemons: list = []

    async def asyncTearDown(self) -> None:
        self.plugin.gate.set()
        for d in self.daemons:
            await d.close()
        if self.server is not None and not self.server.done():
            self.stop.set()
            await asyncio.wait_for(self.server, WAIT)
        self._stderr.__exit__(None, None, None)
        self._tmp.cleanup()

    def start(self, **options: object) -> None:
        opts = toru.ServeOptions(self.socket, **{**self.options, **options})
        self.server = asyncio.create_task(toru.serve(self.plugin, opts, self.stop))

    async def connect(self, init: bool = True) -> TestDaemon:
        d = await TestDaemon.connect(self.socket)
        self.daemons.append(d)
        if init:
            ready = await d.init()
            self.assertEqual(ready["type"], "lifecycle.ready", ready)
        return d

    async def served(self) -> None:
        """Waits for serve() to return (it must, on its own)."""
        assert self.server is not None
        await asyncio.wait_for(asyncio.shield(self.server), WAIT)

    def serving(self) -> bool:
        return self.server is not None and not self.server.done()

    def assert_error(self, reply: dict, code: str, request_id: str) -> None:
        self.assertEqual(reply["type"], "error", reply)
        self.assertEqual(reply["payload"]["code"], code, reply)
        self.assertEqual(reply["request_id"], request_id, reply)


class LifecycleTest(RunnerCase):
    async def test_init_is_answered_ready_and_ping_pong(self) -> None:
        self.start()
        d = await self.connect(init=False)
        ready = await d.init(instance_id="inst-1", request_id="d-1")
        self.assertEqual(ready["type"], "lifecycle.ready")
        self.assertEqual(ready["request_id"], "d-1")
        self.assertEqual(ready["payload"], {"protocol_version": 1})
        self.assertIsInstance(ready["timestamp"], int)
        ctx = self.plugin.contexts[0]
        self.assertEqual((ctx.instance_id, ctx.plugin_id, ctx.config),
                         ("inst-1", "hello-python", {}))
        await d.send(frame("ping", "d-2"))
        pong = await d.recv()
        self.assertIsInstance(pong.pop("timestamp"), int)
        self.assertEqual(pong, {"type": "pong", "request_id": "d-2", "payload": {}})

    async def test_init_of_another_version_is_refused(self) -> None:
        self.start()
        d = await self.connect(init=False)
        await d.send(frame("lifecycle.init", "d-1", {"protocol_version": 2, "plugin_id": "p",
                                                     "instance_id": "i", "config": {}}))
        self.assert_error(await d.recv(), "unsupported_version", "d-1")
        self.assertEqual(self.plugin.contexts, [], "init must not reach the plugin")

    async def test_an_init_the_plugin_refuses_is_an_internal_error(self) -> None:
        self.start()
        d = await self.connect(init=False)
        await d.send(frame("lifecycle.init", "d-1", {"protocol_version": 1, "plugin_id": "p",
                                                     "instance_id": "i",
                                                     "config": {"refuse": True}}))
        reply = await d.recv()
        self.assert_error(reply, "internal", "d-1")
        self.assertIn("refused by config", reply["payload"]["message"])

    async def test_init_can_use_kv_before_it_answers(self) -> None:
        self.start()
        d = await self.connect(init=False)
        d.kv["setting"] = "on"
        await d.send(frame("lifecycle.init", "d-1", {"protocol_version": 1, "plugin_id": "p",
                                                     "instance_id": "i",
                                                     "config": {"kv_in_init": True}}))
        await d.answer_kv(await d.recv())
        self.assertEqual((await d.recv())["type"], "lifecycle.ready")
        self.assertEqual(self.plugin.init_value, "on")

    async def test_shutdown_message_drains_then_returns_and_removes_the_socket(self) -> None:
        self.start()
        d = await self.connect()
        await d.send(http("d-slow", "GET", "/slow-kv"))
        await d.send(frame("lifecycle.shutdown", "d-stop"))
        # Draining: new work is refused at once, pings still answered.
        await d.send(http("d-late", "GET", "/fast"))
        self.assert_error(await d.recv(), "unavailable", "d-late")
        await d.send(frame("ping", "d-ping"))
        self.assertEqual((await d.recv())["type"], "pong")
        self.assertTrue(self.serving())
        self.assertTrue(os.path.exists(self.socket), "the socket stays until the drain ends")
        # The in-flight request finishes, and can still use KV while draining.
        d.kv["k"] = "still here"
        self.plugin.gate.set()
        kv = await d.recv()
        self.assertEqual(kv["type"], "kv.request")
        await d.answer_kv(kv)
        reply = await d.recv()
        self.assertEqual((reply["type"], reply["request_id"]), ("http.response", "d-slow"))
        self.assertEqual(json_of(reply), {"value": "still here"})
        await self.served()
        self.assertFalse(os.path.exists(self.socket))
        self.assertEqual(self.plugin.shutdown_calls, 1)
        self.assertTrue(await d.at_eof())

    async def test_stragglers_are_given_up_after_the_drain_timeout(self) -> None:
        self.start(drain_timeout=0.2)
        d = await self.connect()
        await d.send(http("d-hang", "GET", "/hang"))
        await d.send(http("d-fast", "GET", "/fast"))
        self.assertEqual((await d.recv())["request_id"], "d-fast")  # /hang is surely running
        await d.send(frame("lifecycle.shutdown", "d-stop"))
        # The daemon's waiter is released rather than left to its own timeout.
        self.assert_error(await d.recv(), "unavailable", "d-hang")
        await self.served()
        self.assertEqual(self.plugin.shutdown_calls, 1)
        self.assertFalse(os.path.exists(self.socket))
        self.assertIn("<4>shutdown: 1 in-flight request(s) did not finish in time",
                      self.log.getvalue())

    async def test_the_stop_event_stops_like_a_signal(self) -> None:
        self.start()
        d = await self.connect()
        self.stop.set()
        await self.served()
        self.assertFalse(os.path.exists(self.socket))
        self.assertEqual(self.plugin.shutdown_calls, 1)
        self.assertTrue(await d.at_eof())


class ConcurrencyTest(RunnerCase):
    async def test_a_slow_request_never_holds_up_the_others(self) -> None:
        """100 requests at once; every 4th waits until the test has all 75 fast answers. With any
        head-of-line blocking the fast answers could not all arrive, and recv() would time out."""
        self.start()
        d = await self.connect()
        slow = {f"d-{i}" for i in range(100) if i % 4 == 0}
        fast = {f"d-{i}" for i in range(100)} - slow
        batch = b"".join(
            json.dumps(http(f"d-{i}", "GET", f"/slow/{i}" if i % 4 == 0 else f"/fast/{i}"))
            .encode() + b"\n" for i in range(100))
        await d.send(batch)
        answered = set()
        for _ in fast:
            reply = await d.recv()
            self.assertEqual(reply["type"], "http.response", reply)
            answered.add(reply["request_id"])
        self.assertEqual(answered, fast, "only fast requests can have been answered")
        await d.send(frame("ping", "d-ping"))
        self.assertEqual((await d.recv())["type"], "pong", "a ping is answered meanwhile")
        self.plugin.gate.set()
        late = {}
        for _ in slow:
            reply = await d.recv()
            late[reply["request_id"]] = body_of(reply).decode()
        self.assertEqual(set(late), slow)
        self.assertTrue(all(late[rid] == f"/slow/{rid[2:]}" for rid in slow), late)

    async def test_requests_over_the_in_flight_limit_are_refused_at_once(self) -> None:
        self.start(max_in_flight=4)
        d = await self.connect()
        for i in range(4):
            await d.send(http(f"d-slow-{i}", "GET", "/slow"))
        await d.send(http("d-extra", "GET", "/fast"))
        self.assert_error(await d.recv(), "unavailable", "d-extra")
        await d.send(frame("ping", "d-ping"))
        self.assertEqual((await d.recv())["type"], "pong")
        self.plugin.gate.set()
        ids = {(await d.recv())["request_id"] for _ in range(4)}
        self.assertEqual(ids, {f"d-slow-{i}" for i in range(4)})
        # Capacity is back once they finished.
        self.assertEqual((await d.call(http("d-again", "GET", "/fast")))["type"], "http.response")

    async def test_replies_still_arrive_after_the_daemon_half_closes(self) -> None:
        self.start()
        d = await self.connect()
        await d.send(http("d-slow", "GET", "/slow"))
        d.writer.write_eof()
        self.plugin.gate.set()
        reply = await d.recv()
        self.assertEqual((reply["type"], reply["request_id"]), ("http.response", "d-slow"))
        self.assertTrue(await d.at_eof())


class KvTest(RunnerCase):
    async def test_kv_round_trip(self) -> None:
        self.start()
        d = await self.connect()
        seen_ids = []
        await d.send(http("d-1", "GET", "/kv"))
        while (reply := await d.recv())["type"] == "kv.request":
            seen_ids.append(reply["request_id"])
            await d.answer_kv(reply)
        self.assertEqual(reply["type"], "http.response", reply)
        self.assertEqual(json_of(reply), {"get": "1", "missing": None, "list": ["a", "b"],
                                          "list_b": ["b"], "deleted": True,
                                          "deleted_again": False})
        self.assertEqual(d.kv, {"b": "two"})
        self.assertEqual(len(set(seen_ids)), len(seen_ids), "KV request ids are unique")
        self.assertTrue(all(rid.startswith("p-") for rid in seen_ids), seen_ids)

    async def test_a_kv_error_from_the_daemon_is_a_500(self) -> None:
        self.start()
        d = await self.connect()
        await d.send(http("d-1", "GET", "/kv-get"))
        request = await d.recv()
        await d.send(frame("error", request["request_id"],
                           {"code": "kv_failed", "message": "key too long"}))
        reply = await d.recv()
        self.assertEqual(reply["payload"]["status"], 500)
        self.assertEqual(json_of(reply)["error"], {"code": "kv_failed", "message": "key too long"})
        failure = self.plugin.kv_failures.get_nowait()
        self.assertIsInstance(failure, toru.KvError)
        self.assertEqual(failure.daemon_code, "kv_failed")

    async def test_an_unanswered_kv_request_times_out_with_504(self) -> None:
        self.start(kv_timeout=0.2)
        d = await self.connect()
        await d.send(http("d-1", "GET", "/kv-get"))
        request = await d.recv()
        self.assertEqual(request["type"], "kv.request")
        reply = await d.recv()  # not answering the kv.request
        self.assertEqual(reply["payload"]["status"], 504)
        self.assertEqual(json_of(reply)["error"]["code"], "timeout")
        # A late answer matches nothing in flight: ignored (logged), the connection goes on.
        await d.send(frame("kv.response", request["request_id"], {"op": "get", "value": "x"}))
        await d.send(frame("ping", "d-ping"))
        self.assertEqual((await d.recv())["type"], "pong")
        self.assertIn("<4>kv.response for unknown request", self.log.getvalue())

    async def test_kv_fails_fast_on_disconnect_and_follows_the_reconnection(self) -> None:
        self.start(kv_timeout=3 * WAIT)  # a pending call could only end fast by failing fast
        first = await self.connect()
        await first.send(http("d-1", "GET", "/kv-get"))
        self.assertEqual((await first.recv())["type"], "kv.request")
        await first.close()
        failure = await asyncio.wait_for(self.plugin.kv_failures.get(), WAIT)
        self.assertIsInstance(failure, toru.Disconnected)
        # No connection at all: a call fails at once.
        kv = self.plugin.kv
        with self.assertRaises(toru.Disconnected):
            await asyncio.wait_for(kv.get("k"), WAIT)
        # The daemon comes back: the very same handle routes to the new connection.
        second = await self.connect()
        self.assertIs(self.plugin.contexts[1].kv, kv)
        second.kv["k"] = "v"
        self.assertEqual(json_of(await second.call(http("d-2", "GET", "/kv-get"))),
                         {"value": "v"})
        self.assertEqual(await asyncio.wait_for(self._kv_get_answered(kv, second), WAIT), "v")

    async def _kv_get_answered(self, kv: toru.Kv, d: TestDaemon) -> str | None:
        call = asyncio.ensure_future(kv.get("k"))
        await d.answer_kv(await d.recv())
        return await call

    async def test_kv_goes_to_the_newest_connection(self) -> None:
        self.start()
        old = await self.connect()
        new = await self.connect()
        new.kv["k"] = "from the new one"
        # The request arrives on the old connection, its KV call goes to the new one.
        await old.send(http("d-1", "GET", "/kv-get"))
        await new.answer_kv(await new.recv())
        self.assertEqual(json_of(await old.recv()), {"value": "from the new one"})


class BadInputTest(RunnerCase):
    async def test_bad_frames_are_answered_and_the_connection_keeps_serving(self) -> None:
        self.start()
        d = await self.connect()
        await d.send(b"this is not json\n")
        self.assert_error(await d.recv(), "malformed_frame", "")
        await d.send(frame("metrics.request", "d-1"))
        self.assert_error(await d.recv(), "unknown_type", "d-1")
        await d.send(frame("http.request", "d-2", {"path": "/x"}))
        reply = await d.recv()
        self.assert_error(reply, "bad_payload", "d-2")
        self.assertIn("method", reply["payload"]["message"])
        # A known type the plugin does not accept (the daemon never sends it).
        await d.send(frame("pong", "d-3"))
        self.assert_error(await d.recv(), "unknown_type", "d-3")
        await d.send(frame("http.response", "d-4", {"status": 200}))
        self.assert_error(await d.recv(), "unknown_type", "d-4")
        # Every invalid example of the protocol doc, in one go.
        codes = ["malformed_frame"] * 3 + ["unknown_type"] + ["bad_payload"] * 3
        await d.send("".join(line + "\n" for line in doc_blocks("ndjson-invalid")).encode())
        self.assertEqual([(await d.recv())["payload"]["code"] for _ in codes], codes)
        # Blank lines are ignored, \r\n is tolerated, and an error is never answered.
        await d.send(b"\n  \r\n")
        await d.send(frame("error", "d-nobody", {"code": "internal", "message": "x"}))
        await d.send(json.dumps(frame("ping", "d-crlf")).encode() + b"\r\n")
        self.assertEqual((await d.recv())["request_id"], "d-crlf", "the next reply is the pong")
        self.assertIn("<4>ignoring bad frame from the daemon", self.log.getvalue())

    async def test_an_oversized_frame_closes_only_that_connection(self) -> None:
        self.start(max_frame=1024)
        victim = await self.connect()
        bystander = await self.connect()
        # Exactly the limit is fine (JSON allows trailing spaces).
        ping = json.dumps(frame("ping", "d-edge")).encode()
        await victim.send(ping.ljust(1024) + b"\n")
        self.assertEqual((await victim.recv())["request_id"], "d-edge")
        await victim.send(ping.ljust(1025) + b"\n")
        self.assertTrue(await victim.at_eof())
        await bystander.send(frame("ping", "d-1"))
        self.assertEqual((await bystander.recv())["type"], "pong")
        newcomer = await self.connect()
        await newcomer.send(frame("ping", "d-2"))
        self.assertEqual((await newcomer.recv())["type"], "pong")
        # A frame that never ends is cut off at the limit, not buffered.
        await newcomer.send(b"x" * 5000)
        self.assertTrue(await newcomer.at_eof())
        self.assertIn("<3>closing the daemon connection: frame exceeds the 1024-byte limit",
                      self.log.getvalue())
        self.assertTrue(self.serving())

    async def test_a_frame_cut_off_by_eof_is_discarded(self) -> None:
        self.start()
        d = await self.connect()
        await d.send(b'{"type":"ping","timestamp":1,"request_id":"d-1"')
        d.writer.write_eof()
        self.assertTrue(await d.at_eof(), "no pong for half a frame")
        self.assertIn("closed in the middle of a frame", self.log.getvalue())
        other = await self.connect()
        await other.send(frame("ping", "d-2"))
        self.assertEqual((await other.recv())["type"], "pong")


class HandlerTest(RunnerCase):
    async def test_requests_reach_the_handler_intact(self) -> None:
        self.start()
        d = await self.connect()
        reply = await d.call(http("d-1", "POST", "/echo", b'{"by":1}', user="ada",
                                  headers=[["accept", "text/html"], ["accept", "x"]]))
        self.assertEqual(json_of(reply), {"user": "ada", "json": {"by": 1}, "accept": "text/html"})

    async def test_handler_failures_become_json_error_responses(self) -> None:
        self.start()
        d = await self.connect()
        cases = [("/bad-request", 400, "bad_request"), ("/crash", 500, "internal"),
                 ("/not-a-response", 500, "internal"), ("/bad-status", 500, "internal"),
                 ("/nowhere", 404, "not_found")]
        for path, status, code in cases:
            with self.subTest(path=path):
                reply = await d.call(http("d-" + path, "GET", path))
                self.assertEqual(reply["type"], "http.response")
                self.assertEqual(reply["payload"]["status"], status)
                self.assertEqual(json_of(reply)["error"]["code"], code)
        crash = await d.call(http("d-crash", "GET", "/crash"))
        self.assertNotIn("secret", body_of(crash).decode(), "exception text stays in the log")
        log = self.log.getvalue()
        self.assertIn("<3>RuntimeError: secret detail", log)
        self.assertIn("<3>Traceback (most recent call last):", log)

    async def test_a_response_over_the_frame_limit_becomes_an_error(self) -> None:
        self.start(max_frame=4096)
        d = await self.connect()
        reply = await d.call(http("d-big", "GET", "/big"))
        self.assert_error(reply, "internal", "d-big")
        self.assertEqual((await d.call(http("d-ok", "GET", "/fast")))["type"], "http.response")

    async def test_the_bundle_is_served_on_the_reserved_path(self) -> None:
        self.start()
        d = await self.connect()
        reply = await d.call(http("d-1", "GET", "/_toru/bundle.js"))
        self.assertEqual(reply["payload"]["status"], 200)
        self.assertEqual(reply["payload"]["headers"],
                         [["content-type", "text/javascript; charset=utf-8"]])
        self.assertEqual(body_of(reply), BUNDLE)
        for method, path in [("POST", "/_toru/bundle.js"), ("GET", "/_toru/other")]:
            with self.subTest(method=method, path=path):
                reply = await d.call(http("d-2", method, path))
                self.assertEqual(reply["payload"]["status"], 404)

    async def test_no_bundle_is_a_404(self) -> None:
        self.plugin = Probe(bundle=None)
        self.start()
        d = await self.connect()
        reply = await d.call(http("d-1", "GET", "/_toru/bundle.js"))
        self.assertEqual(reply["payload"]["status"], 404)


class SocketFileTest(RunnerCase):
    async def test_a_stale_socket_is_replaced(self) -> None:
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(self.socket)
        stale.close()  # leaves the socket file behind, as a crashed plugin would
        self.start()
        d = await self.connect()
        await d.send(frame("ping", "d-1"))
        self.assertEqual((await d.recv())["type"], "pong")

    async def test_a_regular_file_is_refused_and_untouched(self) -> None:
        with open(self.socket, "w") as f:
            f.write("precious")
        with self.assertRaises(toru.NotASocketError):
            await toru.serve(self.plugin, toru.ServeOptions(self.socket), self.stop)
        with open(self.socket) as f:
            self.assertEqual(f.read(), "precious")

    async def test_a_symlink_is_refused_and_untouched(self) -> None:
        target = os.path.join(self.dir, "elsewhere")
        os.symlink(target, self.socket)
        with self.assertRaises(toru.NotASocketError):
            await toru.serve(self.plugin, toru.ServeOptions(self.socket), self.stop)
        self.assertEqual(os.readlink(self.socket), target)

    async def test_missing_parent_directories_are_created(self) -> None:
        self.socket = os.path.join(self.dir, "run", "plugin", "p.sock")
        self.start()
        d = await self.connect()
        await d.send(frame("ping", "d-1"))
        self.assertEqual((await d.recv())["type"], "pong")


if __name__ == "__main__":
    unittest.main()
