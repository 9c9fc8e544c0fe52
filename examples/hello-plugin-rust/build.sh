#!/usr/bin/env bash
# Builds the hello-rust plugin — its React dashboard view first, so the executable embeds it —
# and optionally installs it.
#
# Usage: examples/hello-plugin-rust/build.sh [PLUGINS_DIR]     (from any directory)
#
#   1. frontend/: npm ci, npm run build  -> frontend/dist/bundle.js (one ES module)
#   2. cargo build --release -p hello-plugin-rust, which embeds that bundle (see build.rs)
#   3. with PLUGINS_DIR: installs the executable there as hello-rust.binary (mode 0755),
#      atomically, for the daemon to discover.
#
# Needs node (>= 20.19) with npm, and cargo; nothing else.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NAME=hello-rust.binary

if [[ $# -gt 1 ]]; then
  echo "usage: $0 [PLUGINS_DIR]" >&2
  exit 2
fi

echo "==> frontend: npm ci && npm run build"
(
  cd "$HERE/frontend"
  npm ci --no-audit --no-fund
  npm run build
)

echo "==> cargo build --release -p hello-plugin-rust"
cd "$ROOT"
cargo build --release -p hello-plugin-rust
# Where cargo put it: honours CARGO_TARGET_DIR and .cargo/config.toml's build.target-dir.
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
BIN="$TARGET_DIR/release/hello-rust"

# Refuse to ship an executable that cannot even describe itself.
"$BIN" --metadata >/dev/null
echo "built $BIN"

if [[ $# -eq 1 ]]; then
  PLUGINS_DIR=$1
  mkdir -p "$PLUGINS_DIR"
  # Copy under a name the daemon ignores (not *.binary), then rename over the old one, so the
  # daemon never sees a half-written plugin (and a running copy keeps its own inode).
  TMP="$PLUGINS_DIR/.$NAME.$$.tmp"
  trap 'rm -f -- "$TMP"' EXIT
  install -m 0755 "$BIN" "$TMP"
  mv -f "$TMP" "$PLUGINS_DIR/$NAME"
  echo "installed $PLUGINS_DIR/$NAME"
fi
