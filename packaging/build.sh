#!/usr/bin/env bash
# packaging/build.sh — builds the dashboard, the release binaries, man pages and completions,
# then both Debian packages with cargo-deb into target/debian/:
#   toru_<version>_<arch>.deb           toru-daemon, toructl, units, dashboard, config, docs
#   toru-examples_<version>_<arch>.deb  the two example plugins
# and checks them with lintian (no error or warning may remain; overrides carry their reason).
#   TORU_DEB_VERSION  build this Debian version instead of the crate's (e.g. 0.1.1-1)
#   TORU_SKIP_FRONTEND=1  reuse frontend/dist and the examples' views as they are
#   TORU_SKIP_LINTIAN=1   skip the lintian check
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
step() { printf '\n== %s\n' "$*"; }

need=()
command -v help2man >/dev/null || need+=(help2man)
command -v lintian >/dev/null || need+=(lintian)
if ((${#need[@]})); then
  [[ $(id -u) -eq 0 ]] || { echo "build.sh needs: ${need[*]} (apt-get install them)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! cargo deb --version >/dev/null 2>&1; then
  step "cargo install cargo-deb (once)"
  cargo install --locked cargo-deb
fi

if [[ ${TORU_SKIP_FRONTEND:-} != 1 || ! -f frontend/dist/index.html ]]; then
  step "dashboard"
  (cd frontend && npm ci --no-audit --no-fund && npm run build)
fi

step "release binaries and example plugins"
examples_out=$root/target/packaging/examples
mkdir -p "$examples_out"
if [[ ${TORU_SKIP_FRONTEND:-} == 1 && -x target/release/hello-rust ]]; then
  cargo build --release -p hello-plugin-rust
else
  examples/hello-plugin-rust/build.sh "$examples_out"   # builds its React view, then the binary
fi
OUT_DIR=$root/target/packaging/python-dist examples/hello-plugin-python/build.sh "$examples_out"
cargo build --release -p toru-daemon -p toructl

step "man pages (toructl: clap_mangen; toru-daemon: help2man from --help) and shell completions"
man=target/packaging/man completions=target/packaging/completions
mkdir -p "$man" "$completions"
help2man --no-info --section 8 --name "the Toru plugin host daemon" \
  --include packaging/man/toru-daemon.h2m target/release/toru-daemon | gzip -9n >"$man/toru-daemon.8.gz"
# toructl: one page per command from its clap definitions (clap_mangen).
rm -rf "$man/toructl" && target/release/toructl manpages "$man/toructl" >/dev/null
gzip -9n "$man"/toructl/*.1
target/release/toructl completions bash >"$completions/toructl"
target/release/toructl completions zsh >"$completions/_toructl"
target/release/toructl completions fish >"$completions/toructl.fish"

step "cargo deb"
version_args=()
[[ -n ${TORU_DEB_VERSION:-} ]] && version_args=(--deb-version "$TORU_DEB_VERSION")
rm -f target/debian/toru_*.deb target/debian/toru-examples_*.deb
cargo deb --no-build -p toru-daemon "${version_args[@]}"
cargo deb --no-build -p hello-plugin-rust "${version_args[@]}"
ls -l target/debian/*.deb

if [[ ${TORU_SKIP_LINTIAN:-} != 1 ]]; then
  step "lintian"
  # Any error or warning fails the build. Overrides ship in the packages
  # (packaging/lintian/, installed to /usr/share/lintian/overrides/), each with its reason.
  lintian --fail-on error,warning --tag-display-limit 0 \
    target/debian/toru_*.deb target/debian/toru-examples_*.deb
  echo "lintian: clean"
fi
