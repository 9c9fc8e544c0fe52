"""hello-python's licensed /pro route, served by the real runner over a Unix socket, with keys
signed by the demo vendor's HMAC secret (examples/demo-vendor/hmac.key) as toru-license would.

Covers the SDK's licence hook end to end: the verdict reported in lifecycle.ready, ctx.license,
require_license() and the 402/403 bodies shared with the Rust SDK and the daemon.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import io
import json
import os
import tempfile
import unittest

from toru_test_support import REPO, TestDaemon, http, json_of

import hello_python
import toru_plugin as toru

INSTANCE = "00000000-0000-4000-8000-000000000000"
OTHER_INSTANCE = "11111111-1111-4111-8111-111111111111"
SECRET = base64.urlsafe_b64decode(
    json.loads((REPO / "examples" / "demo-vendor" / "hmac.key").read_text())["secret"] + "=")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def demo_key(instance: str = INSTANCE, features: tuple = ("pro",), **extra: object) -> str:
    payload = {"v": 1, "alg": "HS256", "plugin": "hello-python", "instance": instance,
               "licensee": "Demo Ltd", "iat": 1_767_225_600, **extra}
    if features:
        payload["features"] = list(features)
    signed = "TORU1." + b64(json.dumps(payload).encode())
    return signed + "." + b64(hmac.new(SECRET, signed.encode(), hashlib.sha256).digest())


class ProRouteTest(unittest.IsolatedAsyncioTestCase):
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

    async def pro(self) -> tuple:
        reply = await self.d.call(http("d-pro", "GET", "/pro"))
        return reply["payload"]["status"], json_of(reply)

    async def test_no_key_reports_missing_and_pro_answers_402(self) -> None:
        ready = await self.d.init()
        self.assertEqual(ready["payload"]["license"]["state"], "invalid")
        self.assertEqual(ready["payload"]["license"]["error"], "missing")
        status, body = await self.pro()
        self.assertEqual((status, body["error"]["code"]), (402, "license_missing"))
        # The free routes still work.
        greeting = await self.d.call(http("d-g", "GET", "/greeting"))
        self.assertEqual(greeting["payload"]["status"], 200)

    async def test_another_instances_key_is_reported_and_refused_with_403(self) -> None:
        ready = await self.d.init(license=demo_key(OTHER_INSTANCE))
        report = ready["payload"]["license"]
        self.assertEqual(report["error"], "wrong_instance")
        self.assertIn(f"issued for instance {OTHER_INSTANCE}, this is instance {INSTANCE}",
                      report["message"])
        status, body = await self.pro()
        self.assertEqual((status, body["error"]["kind"]), (403, "wrong_instance"))

    async def test_a_tampered_key_is_a_bad_signature(self) -> None:
        key = demo_key()
        head, payload, signature = key.split(".")
        forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
        forged["licensee"] = "Mallory"
        tampered = ".".join([head, b64(json.dumps(forged).encode()), signature])
        ready = await self.d.init(license=tampered)
        self.assertEqual(ready["payload"]["license"]["error"], "bad_signature")

    async def test_a_key_without_the_pro_feature_is_refused(self) -> None:
        await self.d.init(license=demo_key(features=()))
        status, body = await self.pro()
        self.assertEqual((status, body["error"]["kind"]), (403, "feature_missing"))

    async def test_an_expired_key_is_refused(self) -> None:
        ready = await self.d.init(license=demo_key(exp=1_767_225_601))
        self.assertEqual(ready["payload"]["license"]["error"], "expired")
        status, _ = await self.pro()
        self.assertEqual(status, 403)

    async def test_a_valid_key_is_reported_and_unlocks_pro(self) -> None:
        ready = await self.d.init(license=f"  {demo_key(exp=4_102_444_800)}\n")
        self.assertEqual(ready["payload"]["license"], {
            "state": "valid", "licensee": "Demo Ltd", "expires_at": 4_102_444_800,
            "features": ["pro"]})
        status, body = await self.pro()
        self.assertEqual((status, body["licensee"]), (200, "Demo Ltd"))


if __name__ == "__main__":
    unittest.main()
