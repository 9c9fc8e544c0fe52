"""hello-python: the Python twin of hello-rust — a greeting and a counter kept in the plugin's
key-value store, so it survives plugin and daemon restarts — plus a dashboard view, and a
licensed ``/pro`` route that shows how a vendor sells a feature (``docs/licensing.md``)."""

from __future__ import annotations

import asyncio
from typing import Optional

import toru_license
import toru_plugin as toru
from toru_plugin import Context, Kv, Request, Response, info

VERSION = "0.1.0"
#: The KV key the counter lives under (the same as hello-rust's).
COUNTER_KEY = "counter"
#: The HMAC secret of the demo vendor in ``examples/demo-vendor/hmac.key`` — **for demonstration
#: only**: it is public, so anyone can issue keys with it. HMAC means the plugin holds the
#: signing secret itself; a real vendor should prefer Ed25519 (as hello-rust does).
DEMO_VENDOR_HMAC_SECRET = "CNFoYJj0zjeIh86SNVHzVCjrotlS5q1EWEzTVrC2fPA"
#: The licence feature ``/pro`` needs.
PRO_FEATURE = "pro"
#: What an administrator can set (``toructl plugin config hello-python``): the greeting.
SETTINGS = {
    "type": "object",
    "properties": {
        "greeting": {
            "type": "string",
            "title": "Greeting",
            "description": "The word the plugin greets with.",
            "default": "Hello",
            "minLength": 1,
            "maxLength": 40,
        },
    },
}


class Hello(toru.Plugin):
    """The plugin's state is only the context, which holds the KV handle, and the bundle."""

    def __init__(self) -> None:
        self._ctx: Optional[Context] = None
        # Handlers run concurrently and get-then-set is not atomic: without this, two increments
        # at once could both read 4 and both write 5.
        self._counter_lock = asyncio.Lock()
        # Read now, not per request: from inside the zipapp a late read could see a replaced file.
        self._bundle = toru.read_resource(__name__, "frontend/bundle.js")

    def metadata(self) -> dict:
        return {
            "id": "hello-python",
            "name": "Hello (Python)",
            "version": VERSION,
            "author": "The Toru developers",
            "icon": "🐍",
            "route": "/hello-python",
            "protocol_version": toru.PROTOCOL_VERSION,
            "description": "A greeting and a counter stored in the plugin's KV store, in Python",
            "settings": SETTINGS,
        }

    def license_verifier(self) -> toru_license.VerifyingKey:
        return toru_license.VerifyingKey.hmac_base64url(DEMO_VENDOR_HMAC_SECRET)

    async def init(self, ctx: Context) -> None:
        if isinstance(ctx.license, toru_license.LicenseError):
            licence = f"no valid licence, /pro is locked: {ctx.license}"
        else:
            licence = f"licensed to {ctx.license.licensee!r}, /pro is available"
        info(f"initialised for instance {ctx.instance_id}; {licence}")
        self._ctx = ctx

    def _pro_license(self) -> toru_license.License:
        if self._ctx is None:
            raise toru.Disconnected("not initialised yet")
        licence = self._ctx.require_license()
        if not licence.has_feature(PRO_FEATURE):
            raise toru.Unlicensed("feature_missing",
                                  f"the licence does not include the {PRO_FEATURE!r} feature")
        return licence

    def frontend_bundle(self) -> bytes:
        return self._bundle

    def _kv(self) -> Kv:
        if self._ctx is None:
            raise toru.Disconnected("not initialised yet")
        return self._ctx.kv

    async def _count(self) -> int:
        stored = await self._kv().get(COUNTER_KEY)
        # Like hello-rust: anything that is not a plain non-negative integer counts as 0.
        return int(stored) if stored and stored.isascii() and stored.isdigit() else 0

    async def handle_http(self, request: Request) -> Response:
        match (request.method, request.path):
            case ("GET", "/greeting"):
                greeting = (self._ctx.setting_str("greeting") if self._ctx else None) or "Hello"
                return Response.json({"message": f"{greeting}, {request.user or 'stranger'}!"})
            case ("GET", "/counter"):
                return Response.json({"count": await self._count()})
            case ("POST", "/counter/increment"):
                async with self._counter_lock:
                    count = await self._count() + 1
                    await self._kv().set(COUNTER_KEY, str(count))
                info(f"counter incremented to {count}")
                return Response.json({"count": count})
            case ("POST", "/counter/reset"):
                async with self._counter_lock:
                    await self._kv().delete(COUNTER_KEY)
                info("counter reset")
                return Response.json({"count": 0})
            case ("GET", "/pro"):
                licence = self._pro_license()
                return Response.json({
                    "message": f"Pro features unlocked for {licence.licensee}",
                    "licensee": licence.licensee, "expires_at": licence.expires_at,
                    "features": list(licence.features)})
            case _:
                return Response.not_found()


def main() -> None:
    toru.run(Hello())


if __name__ == "__main__":
    main()
