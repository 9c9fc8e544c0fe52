#!/usr/bin/env bash
# Builds hello-node.binary, the Node.js example plugin as one executable script, and optionally
# installs it.
#
# Usage: ./build.sh [PLUGINS_DIR]
#
#   Writes dist/hello-node.binary next to this script; with PLUGINS_DIR, also installs it there
#   (atomically, mode 0755) for the daemon to discover.
#
# Environment:
#   INTERPRETER  the interpreter line written into the script (default: /usr/bin/node)
#   OUT_DIR      where the binary is written                 (default: dist/ next to this script)
#
# Why /usr/bin/node and not "/usr/bin/env node": the daemon runs plugins under systemd or as its
# own children, where PATH may be minimal; an absolute path picks Debian's nodejs. Needs bash,
# coreutils and node.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INTERPRETER=${INTERPRETER:-/usr/bin/node}
OUT_DIR=${OUT_DIR:-$HERE/dist}
NAME=hello-node.binary

if [[ $# -gt 1 ]]; then
  echo "usage: $0 [PLUGINS_DIR]" >&2
  exit 2
fi

mkdir -p "$OUT_DIR"
TMP=$(mktemp "$OUT_DIR/.$NAME.XXXXXX")
trap 'rm -f -- "$TMP"' EXIT
{
  echo "#!$INTERPRETER"
  cat "$HERE/hello-node.js"
} >"$TMP"
chmod 0755 "$TMP"
# Refuse to ship a plugin whose --metadata fails.
"$TMP" --metadata >/dev/null
mv -f -- "$TMP" "$OUT_DIR/$NAME"
echo "built $OUT_DIR/$NAME"

if [[ $# -eq 1 ]]; then
  DEST=$1
  mkdir -p "$DEST"
  STAGED=$(mktemp "$DEST/.$NAME.XXXXXX")
  cp "$OUT_DIR/$NAME" "$STAGED"
  chmod 0755 "$STAGED"
  mv -f -- "$STAGED" "$DEST/$NAME"
  echo "installed $DEST/$NAME"
fi
