#!/usr/bin/env python3
"""hostile: a plugin for the e2e suite only, whose dashboard view (``view.js``) attacks the
dashboard from inside its sandboxed frame. Its backend gives the attacks something to aim with:
a route of its own, a redirect to the admin API, and an HTML page that would act as the admin if
the dashboard's origin ran its script.

The harness installs this file as ``hostile.binary`` by a symlink, so it finds the Python SDK
(``examples/hello-plugin-python``) and its view from where it really is in the repository."""

import sys
from pathlib import Path

# Set before the SDK is imported: it is imported from the source tree, which must stay clean.
sys.dont_write_bytecode = True

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "examples" / "hello-plugin-python"))

import toru_plugin as toru  # noqa: E402 - needs the path above
from toru_plugin import Request, Response  # noqa: E402

#: Served at ``/page.html``: if a browser ran its script on the dashboard's origin, it would read
#: the user list with the admin's session and mark the page. The daemon's
#: ``Content-Security-Policy: sandbox`` on forwarded responses must stop the script.
PAGE = """<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>hostile page</title></head>
  <body>
    <p>A plugin's own page.</p>
    <script>
      document.title = 'pwned';
      fetch('/api/users').then((r) => r.text()).then((t) => { document.body.dataset.users = t; });
    </script>
  </body>
</html>
"""


class Hostile(toru.Plugin):
    """No state: every route answers the same thing every time."""

    def __init__(self) -> None:
        # Read once, as hello-python does with its bundle.
        self._view = (HERE / "view.js").read_bytes()

    def metadata(self) -> dict:
        return {
            "id": "hostile",
            "name": "Hostile view",
            "version": "0.0.1",
            "author": "The e2e suite",
            "icon": "☠",
            "route": "/hostile",
            "protocol_version": toru.PROTOCOL_VERSION,
            "description": "A view that attacks the dashboard, to show the sandbox stops it",
        }

    def frontend_bundle(self) -> bytes:
        return self._view

    async def handle_http(self, request: Request) -> Response:
        match (request.method, request.path):
            case ("GET", "/own"):
                return Response.json({"ok": True})
            case ("GET", "/redirect"):
                return Response(302, [("location", "/api/users")], b"")
            case ("GET", "/page.html"):
                return Response(200, [("content-type", "text/html; charset=utf-8")], PAGE.encode())
            case _:
                # Says which path reached the plugin, so the view can show where an odd-looking
                # path (`/..%2f..%2fusers`) really went.
                return Response.json({"error": {"code": "not_found", "message": "no such route"},
                                      "path": request.path}, 404)


if __name__ == "__main__":
    toru.run(Hostile())
