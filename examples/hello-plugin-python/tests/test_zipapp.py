"""The built hello-python.binary, run for real (through its #! line) with the test as its daemon.

build.sh is run once for the module, into a temporary directory, so the tests check exactly
what gets installed. The process gets an almost empty environment (no PATH, HOME or TMPDIR), the
way a sandboxed unit might, and must not write anything but its socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from toru_test_support import PLUGIN_DIR, WAIT, TestDaemon, body_of, http, json_of

import hello_python

PYTHON = "/usr/bin/python3"


def build(out_dir: Path, plugins_dir: Path) -> Path:
    """Runs build.sh as documented; returns the built zipapp."""
    env = {**os.environ, "OUT_DIR": str(out_dir), "PYTHON": sys.executable}
    subprocess.run(["bash", str(PLUGIN_DIR / "build.sh"), str(plugins_dir)], env=env,
                   check=True, capture_output=True, timeout=60)
    return out_dir / "hello-python.binary"


def snapshot(directory: Path) -> dict:
    """Every file under ``directory`` with its size and mtime, to prove nothing was written."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if not p.is_socket()}


@unittest.skipUnless(os.access(PYTHON, os.X_OK), f"{PYTHON} is missing (apt install python3)")
class ZipappTest(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        root = Path(cls._tmp.name)
        cls.plugins = root / "plugins"
        cls.app = build(root / "dist", cls.plugins)
        cls.installed = cls.plugins / "hello-python.binary"

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def run_app(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.installed), *args], env=env or {}, capture_output=True,
                              timeout=WAIT)

    def test_build_installs_an_executable_copy(self) -> None:
        self.assertTrue(os.access(self.installed, os.X_OK))
        self.assertEqual(self.installed.read_bytes(), self.app.read_bytes())
        self.assertEqual(self.app.read_bytes().split(b"\n", 1)[0], b"#!/usr/bin/python3 -I")
        self.assertEqual(sorted(p.name for p in self.plugins.iterdir()), ["hello-python.binary"],
                         "no temporary files left behind")

    def test_metadata_prints_the_plugins_metadata(self) -> None:
        out = self.run_app("--metadata")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.count(b"\n"), 1)
        printed = json.loads(out.stdout)
        self.assertEqual(printed, hello_python.Hello().metadata())
        self.assertEqual((printed["id"], printed["route"], printed["icon"]),
                         ("hello-python", "/hello-python", "🐍"))

    def test_no_socket_is_a_usage_error(self) -> None:
        out = self.run_app()
        self.assertEqual(out.returncode, 2)
        self.assertIn(b"TORU_PLUGIN_SOCKET", out.stderr)

    def test_the_source_directory_runs_too(self) -> None:
        out = subprocess.run([sys.executable, str(PLUGIN_DIR), "--metadata"],
                             capture_output=True, timeout=WAIT)
        self.assertEqual(json.loads(out.stdout), hello_python.Hello().metadata())

    async def test_serves_the_bundle_greets_counts_and_stops_on_sigterm(self) -> None:
        with tempfile.TemporaryDirectory() as run_dir:
            socket_path = os.path.join(run_dir, "plugin.sock")
            before = snapshot(self.plugins)
            process = await asyncio.create_subprocess_exec(
                str(self.installed), stderr=subprocess.PIPE,
                env={"TORU_PLUGIN_SOCKET": socket_path, "TORU_PLUGIN_ID": "hello-python"})
            try:
                d = await TestDaemon.connect(socket_path)
                await self.exercise(d)
                await d.close()
                process.send_signal(signal.SIGTERM)
                assert process.stderr is not None
                stderr = await asyncio.wait_for(process.stderr.read(), WAIT)
                self.assertEqual(await asyncio.wait_for(process.wait(), WAIT), 0, stderr)
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            self.assertEqual(os.listdir(run_dir), [], "socket removed, nothing else written")
            self.assertEqual(snapshot(self.plugins), before, "no __pycache__ or other writes")
        lines = stderr.decode().splitlines()
        self.assertTrue(lines and all(line[:3] in ("<3>", "<4>", "<6>", "<7>") for line in lines),
                        lines)
        self.assertIn("<6>counter incremented to 3", lines)
        self.assertIn("<6>counter reset", lines)

    async def exercise(self, d: TestDaemon) -> None:
        ready = await d.init(instance_id="inst-42")
        self.assertEqual(ready["type"], "lifecycle.ready", ready)

        bundle = await d.call(http("d-b", "GET", "/_toru/bundle.js"))
        self.assertEqual(bundle["payload"]["status"], 200)
        headers = dict(bundle["payload"]["headers"])
        self.assertTrue(headers["content-type"].startswith("text/javascript"), headers)
        self.assertEqual(body_of(bundle), (PLUGIN_DIR / "frontend" / "bundle.js").read_bytes())

        greeting = await d.call(http("d-g", "GET", "/greeting", user="ada"))
        self.assertEqual(json_of(greeting), {"message": "Hello, ada!"})
        anonymous = await d.call(http("d-a", "GET", "/greeting"))
        self.assertEqual(json_of(anonymous), {"message": "Hello, stranger!"})

        for expected in (1, 2, 3):
            reply = await d.call(http(f"d-i{expected}", "POST", "/counter/increment"))
            self.assertEqual(json_of(reply), {"count": expected})
        self.assertEqual(d.kv, {"counter": "3"}, "stored in the daemon's KV")
        self.assertEqual(json_of(await d.call(http("d-c", "GET", "/counter"))), {"count": 3})
        self.assertEqual(json_of(await d.call(http("d-r", "POST", "/counter/reset"))),
                         {"count": 0})
        self.assertEqual(d.kv, {})
        missing = await d.call(http("d-n", "GET", "/nope"))
        self.assertEqual(missing["payload"]["status"], 404)
        wrong_method = await d.call(http("d-m", "GET", "/counter/increment"))
        self.assertEqual(wrong_method["payload"]["status"], 404)


if __name__ == "__main__":
    unittest.main()
