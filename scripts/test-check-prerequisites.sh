#!/usr/bin/env bash
# Tests scripts/check-prerequisites against a PATH that lacks or fakes each tool: a machine
# without Rust, with Debian 12's rustc 1.63 and nodejs 18, and without a C compiler must each be
# told what is missing and how to fix it; this machine must pass.
set -euo pipefail
cd "$(dirname "$0")/.."
check=$PWD/scripts/check-prerequisites
fail() { echo "test-check-prerequisites: FAIL: $*" >&2; exit 1; }

scripts/check-prerequisites || fail "this machine has every prerequisite, yet the check failed"

# A bin directory with the basic tools, plus whatever each case adds.
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
for tool in bash env sed sort head cut tr cat dirname; do
  ln -s "$(command -v "$tool")" "$bin/$tool"
done
fake() { printf '#!/bin/sh\necho "%s"\n' "$2" >"$bin/$1" && chmod +x "$bin/$1"; }
run() { PATH=$bin "$check" 2>&1 && fail "passed with $1"; true; }

fake python3 "Python 3.11.2"
fake cc "cc"
fake npm "9.2.0"
fake node "v20.19.2"
out=$(run "no Rust")
[[ $out == *"missing: Rust 1.89 or newer (cargo)"* && $out == *"fix: curl"*"rustup.rs"* ]] || fail "no Rust: $out"

fake cargo "cargo 1.63.0"
fake rustc "rustc 1.63.0"
out=$(run "Debian 12's rustc")
[[ $out == *"found 1.63.0"* && $out == *"rustup update stable"* ]] || fail "rustc 1.63: $out"

fake rustc "rustc 1.95.0 (59807616e 2026-04-14)"
fake node "v18.19.0"
rm "$bin/cc"
out=$(run "Node.js 18 and no C compiler")
[[ $out == *"found v18.19.0"* && $out == *"apt-get install build-essential"* && $out != *"Rust"* ]] ||
  fail "node 18, no cc: $out"
[[ $out == *"nothing was built"* ]] || fail "does not say nothing was built: $out"
echo "test-check-prerequisites: ok (4 cases)"
