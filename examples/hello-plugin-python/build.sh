#!/usr/bin/env bash
# Builds hello-python.binary, a Python zipapp holding the SDK, the plugin and its dashboard
# bundle, and optionally installs it.
#
# Usage: ./build.sh [PLUGINS_DIR]
#
#   Writes dist/hello-python.binary next to this script; with PLUGINS_DIR, also installs it there
#   (atomically, mode 0755) for the daemon to discover.
#
# Environment:
#   PYTHON       the Python that runs the build            (default: python3)
#   INTERPRETER  the interpreter line written into the app (default: "/usr/bin/python3 -I")
#   OUT_DIR      where the zipapp is written               (default: dist/ next to this script)
#
# Why "/usr/bin/python3 -I" and not "/usr/bin/env python3": the daemon runs plugins under systemd
# or as its own children, where PATH may be minimal or different; an absolute path always picks
# Debian's python3 (the one the sandbox is checked against) and never a /usr/local or pyenv one.
# -I (isolated mode) ignores PYTHON* variables and the user's site-packages, so the plugin's
# environment cannot change what code it runs. Needs only bash, coreutils and python3.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}
INTERPRETER=${INTERPRETER:-/usr/bin/python3 -I}
OUT_DIR=${OUT_DIR:-$HERE/dist}
NAME=hello-python.binary

if [[ $# -gt 1 ]]; then
  echo "usage: $0 [PLUGINS_DIR]" >&2
  exit 2
fi

mkdir -p "$OUT_DIR"
# Stage only what the app needs (no tests, no __pycache__), inside OUT_DIR: no /tmp needed.
STAGE=$(mktemp -d "$OUT_DIR/.stage.XXXXXX")
trap 'rm -rf -- "$STAGE"' EXIT
cp "$HERE/__main__.py" "$HERE/toru_plugin.py" "$HERE/toru_license.py" "$HERE/hello_python.py" "$STAGE/"
mkdir "$STAGE/frontend"
cp "$HERE/frontend/bundle.js" "$STAGE/frontend/"

"$PYTHON" -m zipapp "$STAGE" --python "$INTERPRETER" --output "$OUT_DIR/$NAME.tmp"
chmod 0755 "$OUT_DIR/$NAME.tmp"
mv -f "$OUT_DIR/$NAME.tmp" "$OUT_DIR/$NAME"

# Refuse to ship an app that cannot even describe itself.
"$PYTHON" "$OUT_DIR/$NAME" --metadata >/dev/null
echo "built $OUT_DIR/$NAME"

if [[ $# -eq 1 ]]; then
  PLUGINS_DIR=$1
  mkdir -p "$PLUGINS_DIR"
  # Copy under a name the daemon ignores (not *.binary), then rename over the old one, so the
  # daemon never sees a half-written plugin. (A running copy is unaffected: the app reads all
  # it needs from the archive at start-up.)
  TMP="$PLUGINS_DIR/.$NAME.$$.tmp"
  trap 'rm -rf -- "$STAGE" "$TMP"' EXIT
  install -m 0755 "$OUT_DIR/$NAME" "$TMP"
  mv -f "$TMP" "$PLUGINS_DIR/$NAME"
  echo "installed $PLUGINS_DIR/$NAME"
fi
