"""Settings in the Python SDK: the typed getters of ``Context``, the declared defaults the runner
fills in, and hello-python's ``greeting`` setting, served by the real runner over a Unix socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import tempfile
import unittest

from toru_test_support import TestDaemon, http, json_of

import hello_python
import toru_plugin as toru


class ContextGettersTest(unittest.TestCase):
    def ctx(self, config: dict) -> toru.Context:
        return toru.Context("i", "p", config, toru.Kv())

    def test_each_getter_answers_only_its_own_type(self) -> None:
        ctx = self.ctx({"s": "x", "i": 3, "f": 1.5, "b": True, "whole": 2.0})
        self.assertEqual(ctx.setting_str("s"), "x")
        self.assertEqual(ctx.setting_int("i"), 3)
        self.assertEqual(ctx.setting_int("whole"), 2)
        self.assertEqual(ctx.setting_float("i"), 3.0)
        self.assertEqual(ctx.setting_float("f"), 1.5)
        self.assertIs(ctx.setting_bool("b"), True)
        self.assertIsNone(ctx.setting_str("i"))
        self.assertIsNone(ctx.setting_int("b"), "a bool is not an integer")
        self.assertIsNone(ctx.setting_int("f"))
        self.assertIsNone(ctx.setting_bool("s"))
        self.assertIsNone(ctx.setting("missing"))

    def test_declared_defaults_fill_only_what_is_missing(self) -> None:
        metadata = {"settings": {"type": "object", "properties": {
            "a": {"type": "string", "default": "A"}, "b": {"type": "integer", "default": 1},
            "c": {"type": "boolean"}}}}
        self.assertEqual(toru.with_declared_defaults(metadata, {"b": 2}), {"a": "A", "b": 2})
        self.assertEqual(toru.with_declared_defaults({}, {"x": 1}), {"x": 1})


class GreetingSettingTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.socket = os.path.join(self._tmp.name, "hello.sock")
        self._stderr = contextlib.redirect_stderr(io.StringIO())
        self._stderr.__enter__()
        self.stop = asyncio.Event()
        self.server = asyncio.create_task(
            toru.serve(hello_python.Hello(), toru.ServeOptions(self.socket), self.stop))
        self.d = await TestDaemon.connect(self.socket)

    async def asyncTearDown(self) -> None:
        await self.d.close()
        self.stop.set()
        await asyncio.wait_for(self.server, 10)
        self._stderr.__exit__(None, None, None)
        self._tmp.cleanup()

    async def greeting(self) -> str:
        return json_of(await self.d.call(http("d-g", "GET", "/greeting", user="ada")))["message"]

    async def test_greets_with_the_configured_greeting(self) -> None:
        await self.d.init(config={"greeting": "Ahoy"})
        self.assertEqual(await self.greeting(), "Ahoy, ada!")

    async def test_without_a_value_the_declared_default_applies(self) -> None:
        await self.d.init()
        self.assertEqual(await self.greeting(), "Hello, ada!")

    def test_the_metadata_declares_the_greeting(self) -> None:
        greeting = hello_python.Hello().metadata()["settings"]["properties"]["greeting"]
        self.assertEqual((greeting["type"], greeting["default"]), ("string", "Hello"))


if __name__ == "__main__":
    unittest.main()
