#!/usr/bin/env bash
# packaging/install-test.sh — installs the Debian packages on a fresh Debian 12 (systemd 252) and
# then on a fresh Debian 13 (systemd 257), each booted under its own systemd (PID 1 of
# scripts/systemd-sandbox, booting a cached debootstrap root of that release), and checks on each
# what an administrator relies on: install, socket activation, peer-credential access, plugin
# units in systemctl and the journal, the Node.js example (jit permission) as a unit, security
# scores, upgrade without data loss, purge. Before
# that, Debian 13's lintian checks the packages (build.sh ran the host's, Debian 12's).
# Prints the measured figures per release; any failed check ends the run with a message and exit 1.
#
#   packaging/install-test.sh            build the packages (packaging/build.sh), then test
#   TORU_INSTALL_TEST_NO_BUILD=1 ...     test the packages already in target/debian/
#   TORU_INSTALL_TEST_SUITES="trixie"    only these releases (default "bookworm trixie")
#
# The roots are made once by packaging/debian-root.sh (debootstrap minbase + the packages'
# Depends + nodejs, one to two minutes each) and reused: target/install-test/root-<suite>, and
# target/debian-roots/lintian-trixie for lintian. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
sandbox=$repo/scripts/systemd-sandbox
suites=(${TORU_INSTALL_TEST_SUITES:-bookworm trixie})
started=$SECONDS
# The sandbox the checks below run in; set per release by release_test.
name=

FIGURES=()
# A figure of the release under test: printed now, and again in the summary at the end.
figure() { FIGURES+=("$(printf '%-10s %-48s %s' "$release" "$1" "$2")"); printf '   %-45s %s\n' "$1" "$2"; }
release=all
step() { printf '\n-- %s: %s (%ss)\n' "$release" "$*" "$((SECONDS - started))"; }
fail() {
  printf '\nINSTALL TEST FAILED: %s\n' "$*" >&2
  if [[ -n $name ]] && "$sandbox" status "$name" >/dev/null 2>&1; then
    echo "---- journal of the sandbox (toru units, last 60 lines) ----" >&2
    inside journalctl --no-pager -n 60 -u 'toru-*' >&2 || true
  fi
  exit 1
}
# Runs a command inside the booted root.
inside() { "$sandbox" exec "$name" -- "$@"; }
# Milliseconds since $1 (a value of now_us).
now_us() { echo "${EPOCHREALTIME/./}"; }
ms_since() { echo $((($(now_us) - $1) / 1000)); }

# Waits up to $2 seconds until `systemctl is-active $1` prints $3 (default active).
wait_state() {
  local unit=$1 limit=$2 want=${3:-active} state i
  for ((i = 0; i < limit * 10; i++)); do
    state=$(inside systemctl is-active "$unit" 2>/dev/null) || true
    [[ $state == "$want" ]] && return 0
    sleep 0.1
  done
  fail "$unit is '$state' after ${limit}s, expected '$want'"
}

# The overall exposure of a unit, from `systemd-analyze security`.
exposure() {
  inside systemd-analyze security --no-pager "$1" |
    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p'
}

# `$1 <= $2` for decimals.
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }

# The release name a suite is known by.
release_name() {
  case $1 in
    bookworm) echo "Debian 12" ;;
    trixie) echo "Debian 13" ;;
    *) fail "unknown suite '$1' (bookworm or trixie)" ;;
  esac
}

# Checks the packages with the lintian of release $1 (a suite), booted from a cached root that
# has it (target/debian-roots/lintian-<suite>): the same rule as build.sh's run of the host's
# lintian, no error or warning, with the overrides the packages ship.
check_lintian() {
  local suite=$1 root_dir=$repo/target/debian-roots/lintian-$1 t
  release=$(release_name "$suite")
  step "lintian of $release"
  # dbus: the sandbox boots it. perl-openssl-defaults: debootstrap does not resolve virtual
  # packages, and one of lintian's dependencies needs perl-openssl-abi-3, which it provides.
  packaging/debian-root.sh "$suite" "$root_dir" dbus lintian perl-openssl-defaults
  t=$(now_us)
  "$sandbox" run "toru-lintian-$suite" --root "$root_dir" --private-network \
    --bind "$repo/target/install-test/debs:/mnt/debs" -- \
    lintian --fail-on error,warning --tag-display-limit 0 \
    "/mnt/debs/$(basename "${debs[0]}")" "/mnt/debs/$(basename "${examples[0]}")" ||
    fail "$release's lintian reports errors or warnings (above)"
  figure "lintian $(dpkg-query --admindir="$root_dir/var/lib/dpkg" -W -f '${Version}' lintian)" "clean, in $(ms_since "$t") ms"
  release=all
}

# Installs the given package files (paths inside the sandbox) and fails unless they are all apt
# installed: the root already holds exactly the declared Depends, so a missing one would show up
# as an extra package here.
apt_install() {
  local before after extra
  before=$(inside dpkg-query -W -f '${Package}\n' | sort)
  inside env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    -o Dpkg::Options::=--force-confnew "$@" || return 1
  after=$(inside dpkg-query -W -f '${Package}\n' | sort)
  extra=$(comm -13 <(echo "$before") <(echo "$after") | grep -vx -e toru -e toru-examples || true)
  [[ -z $extra ]] || { echo "apt pulled in undeclared packages: $extra" >&2; return 1; }
}

# GET /api/plugins/$1/route/$2 through the API's Unix socket, as a local client (peer
# credentials, no session); prints the raw HTTP answer.
plugin_route() {
  inside python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect("/run/toru/toru.sock")
s.sendall(f"GET /api/plugins/{sys.argv[1]}/route/{sys.argv[2]} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
print(b"".join(iter(lambda: s.recv(65536), b"")).decode(errors="replace"))' "$1" "$2"
}

# Boots $1's cached root (made now if missing or stale) under its own systemd in sandbox $name.
boot_release() {
  local suite=$1 root_dir=$repo/target/install-test/root-$1 t
  step "a root with only the packages' declared dependencies"
  # nodejs: the Node.js example's runtime, which an administrator installs for it.
  packaging/debian-root.sh "$suite" "$root_dir" "${depends[@]}" nodejs

  step "boot it under its own systemd"
  "$sandbox" stop "$name" 2>/dev/null || true
  t=$(now_us)
  "$sandbox" start "$name" --root "$root_dir" --private-network \
    --bind "$repo/target/install-test/debs:/mnt/debs" \
    --bind "$repo/target/install-test/upgrade:/mnt/upgrade" \
    --bind "$repo/target/install-test/node:/mnt/node" >/dev/null
  figure "sandbox boot to 'running'" "$(ms_since "$t") ms"
  figure "release" "$(release_name "$suite") ($(inside cat /etc/debian_version))"
  figure "systemd" "$(inside systemctl --version | sed -n '1s/^systemd //p')"
}

check_install() {
  local t
  step "apt install ./toru_${version}_*.deb (nothing else may be installed)"
  t=$(now_us)
  apt_install "/mnt/debs/$(basename "${debs[0]}")" >/tmp/toru-install-test.apt.log 2>&1 ||
    { cat /tmp/toru-install-test.apt.log >&2; fail "apt install of the package failed"; }
  figure "apt install toru" "$(ms_since "$t") ms"
  t=$(now_us)
  wait_state toru-daemon.service 30
  figure "after install: toru-daemon active within" "$(ms_since "$t") ms"
  wait_state toru-daemon.socket 5
  [[ $(inside systemctl is-enabled toru-daemon.service) == enabled ]] || fail "toru-daemon.service is not enabled"
  [[ $(inside systemctl is-enabled toru-daemon.socket) == enabled ]] || fail "toru-daemon.socket is not enabled"
  inside getent group toru >/dev/null || fail "group toru was not created"
  [[ -z $(inside ls -A /var/lib/toru/plugins) ]] || fail "a production install must start with no plugins"
  inside test -f /usr/share/toru/web/index.html || fail "the dashboard is not in /usr/share/toru/web"
  inside test -f /usr/share/man/man1/toructl.1.gz || fail "no man page for toructl"
  inside test -f /usr/share/man/man1/toructl-plugin-enable.1.gz || fail "no man page per subcommand"
}

check_local_access() {
  local out
  step "toructl: root, a member of group toru, and someone else"
  inside toructl status >/dev/null || fail "toructl status as root"
  inside useradd --create-home --groups toru alice
  inside useradd --create-home bob
  inside runuser -u alice -- toructl status >/dev/null || fail "toructl status as alice (group toru)"
  if out=$(inside runuser -u bob -- toructl status 2>&1); then
    fail "toructl status worked for bob, who is not in group toru: $out"
  fi
  echo "bob is refused: ${out//$'\n'/ }"
}

check_daemon_security() {
  local score caps
  step "security of toru-daemon.service"
  score=$(exposure toru-daemon.service)
  figure "systemd-analyze security toru-daemon.service" "$score"
  at_most "$score" 1.0 || fail "toru-daemon.service exposure $score is over 1.0"
  caps=$(inside systemctl show -p CapabilityBoundingSet --value toru-daemon.service)
  [[ -z $caps ]] || fail "the daemon has capabilities: $caps"
}

check_socket_activation() {
  local t reply
  step "socket activation: stop the daemon, then a request to the TCP port starts it"
  inside systemctl stop toru-daemon.service
  wait_state toru-daemon.service 10 inactive
  t=$(now_us)
  reply=$(inside bash -c 'exec 3<>/dev/tcp/127.0.0.1/7070 &&
    printf "GET /api/health HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 && timeout 20 cat <&3') ||
    fail "no answer on 127.0.0.1:7070 after stopping the daemon"
  figure "stopped daemon: first HTTP answer after" "$(ms_since "$t") ms"
  [[ $reply == "HTTP/1.0 200"* || $reply == "HTTP/1.1 200"* ]] || fail "unexpected answer: $reply"
  wait_state toru-daemon.service 10
  inside systemctl stop toru-daemon.service
  wait_state toru-daemon.service 10 inactive
  t=$(now_us)
  inside toructl status >/dev/null || fail "toructl did not start the daemon through the Unix socket"
  figure "stopped daemon: toructl status over the socket" "$(ms_since "$t") ms"
}

# Leaves hello-rust and hello-python enabled, hello-rust with a KV value, for check_upgrade.
check_example_plugins() {
  local listed completion t route journal score
  step "example plugins as systemd units"
  apt_install "/mnt/debs/$(basename "${examples[0]}")" >/tmp/toru-install-test.apt.log 2>&1 ||
    { cat /tmp/toru-install-test.apt.log >&2; fail "apt install of toru-examples failed"; }
  listed=$(inside toructl plugin list)
  echo "$listed"
  grep -q hello-rust <<<"$listed" && grep -q hello-python <<<"$listed" ||
    fail "the examples are not listed after installing toru-examples"
  # <Tab> after `toructl plugin enable hello-` in bash, with the installed script: the ids come
  # from the daemon.
  completion=$(inside bash -c 'source /usr/share/bash-completion/completions/toructl
    COMP_WORDS=(toructl plugin enable hello-) COMP_CWORD=3 COMP_TYPE=9
    _clap_complete_toructl toructl hello- enable; printf "%s\n" "${COMPREPLY[@]}"')
  grep -qx hello-rust <<<"$completion" && grep -qx hello-python <<<"$completion" ||
    fail "bash completion of plugin ids from the daemon gave: $completion"
  printf 'correct horse battery\n' | inside toructl user add admin >/dev/null || fail "toructl user add admin"
  t=$(now_us)
  inside toructl plugin enable hello-rust >/dev/null || fail "toructl plugin enable hello-rust"
  figure "toructl plugin enable hello-rust (until running)" "$(ms_since "$t") ms"
  wait_state toru-plugin-hello-rust.service 10
  inside systemctl list-units --no-pager --no-legend 'toru-plugin-*' | grep toru-plugin-hello-rust.service >/dev/null ||
    fail "toru-plugin-hello-rust.service is not listed by systemctl"
  route=$(plugin_route hello-rust greeting)
  [[ $route == "HTTP/1.0 200"* || $route == "HTTP/1.1 200"* ]] || fail "the plugin route did not answer 200: $route"
  echo "route answered: $(tail -n 1 <<<"$route")"
  journal=""
  for _ in $(seq 50); do
    journal=$(inside journalctl --no-pager -u toru-plugin-hello-rust -o cat) || true
    grep -q "initialised for instance" <<<"$journal" && break
    sleep 0.1
  done
  grep -q "initialised for instance" <<<"$journal" ||
    fail "journalctl -u toru-plugin-hello-rust lacks the plugin's log lines: $journal"
  score=$(exposure toru-plugin-hello-rust.service)
  figure "systemd-analyze security toru-plugin-hello-rust" "$score"
  at_most "$score" 1.5 || fail "plugin unit exposure $score is over 1.5"
  inside toructl plugin enable hello-python >/dev/null || fail "the Python example does not run under the sandbox"
  score=$(exposure toru-plugin-hello-python.service)
  figure "systemd-analyze security toru-plugin-hello-python" "$score"
  at_most "$score" 1.5 || fail "plugin unit exposure $score is over 1.5"
  inside toructl kv set hello-rust install-test "kept across upgrades" >/dev/null || fail "toructl kv set"
}

check_upgrade() {
  local t plugin_pid new_pid state
  plugin_pid=$(inside systemctl show -p MainPID --value toru-plugin-hello-rust.service)
  step "upgrade to $upgrade_version keeps data, users and enabled plugins"
  t=$(now_us)
  apt_install "/mnt/upgrade/$(basename "${upgrade[0]}")" >/tmp/toru-install-test.apt.log 2>&1 ||
    { cat /tmp/toru-install-test.apt.log >&2; fail "the upgrade failed"; }
  figure "apt upgrade (daemon restarted)" "$(ms_since "$t") ms"
  [[ $(inside dpkg-query -W -f '${Version}' toru) == "$upgrade_version" ]] || fail "toru is not at $upgrade_version"
  wait_state toru-daemon.service 30
  [[ $(inside toructl kv get hello-rust install-test) == "kept across upgrades" ]] || fail "the KV value was lost"
  inside toructl user list | grep -w admin >/dev/null || fail "the user admin was lost"
  for _ in $(seq 100); do
    state=$(inside toructl --json plugin show hello-rust | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["state"])') || true
    [[ $state == running ]] && break
    sleep 0.1
  done
  [[ $state == running ]] || fail "hello-rust is '$state' after the upgrade, not running"
  new_pid=$(inside systemctl show -p MainPID --value toru-plugin-hello-rust.service)
  [[ $new_pid == "$plugin_pid" ]] || fail "the plugin was restarted by the upgrade ($plugin_pid -> $new_pid), not adopted"
  echo "hello-rust kept running through the upgrade (pid $new_pid, adopted)"
}

# toructl backup and restore on the packaged daemon: a restore stops the daemon with status 75,
# which its unit (RestartForceExitStatus=75, SuccessExitStatus=75) starts again at once, and the
# new daemon runs on the restored database.
check_backup_restore() {
  local t result
  step "toructl backup, a change, toructl restore: the daemon restarts onto the backup"
  inside toructl backup -o /root/toru-backup.tar 2>/dev/null || fail "toructl backup"
  inside toructl kv set hello-rust install-test "changed after the backup" >/dev/null || fail "toructl kv set"
  t=$(now_us)
  inside toructl restore /root/toru-backup.tar >/dev/null || fail "toructl restore"
  figure "toructl restore (until the daemon runs on it)" "$(ms_since "$t") ms"
  [[ $(inside toructl kv get hello-rust install-test) == "kept across upgrades" ]] ||
    fail "the restore did not bring the KV value back"
  inside test -f /var/lib/toru/before-restore/toru.db || fail "the replaced database was not kept in before-restore/"
  result=$(inside systemctl show -p Result --value toru-daemon.service)
  [[ $result == success ]] || fail "toru-daemon.service's result is '$result' after the restore, not success"
  wait_state toru-daemon.service 30
}

check_purge() {
  local path left
  step "apt purge removes units and state"
  inside env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q toru-examples toru >/tmp/toru-install-test.apt.log 2>&1 ||
    { cat /tmp/toru-install-test.apt.log >&2; fail "apt purge failed"; }
  for path in /usr/lib/systemd/system/toru-daemon.service /usr/lib/systemd/system/toru-daemon.socket \
    /var/lib/toru /etc/toru /usr/bin/toru-daemon; do
    if inside test -e "$path"; then fail "$path is still there after purge"; fi
  done
  left=$(inside systemctl list-units --no-pager --no-legend --all 'toru-*' | grep -v 'not-found' || true)
  [[ -z $(grep -E 'active|running' <<<"$left" | grep -v inactive || true) ]] || fail "units still running after purge: $left"
}

# The Node.js example (examples/hello-plugin-node): a runtime with a JIT, so it declares
# "jit": true, without which V8 aborts under the unit's MemoryDenyWriteExecute=yes. Copied into
# the plugins directory like an administrator would, discovered (its --metadata runs in a
# transient unit), enabled, its route answered, its unit's score checked. The root has nodejs
# (Debian 12: 18, Debian 13: 20) next to the packages' Depends.
check_node_plugin() {
  local t route score mdwe
  step "the Node.js example (jit permission) as a systemd unit"
  figure "nodejs" "$(inside node --version)"
  inside install -m 0755 /mnt/node/hello-node.binary /var/lib/toru/plugins/hello-node.binary
  t=$(now_us)
  inside toructl plugin enable hello-node >/dev/null || fail "toructl plugin enable hello-node"
  figure "toructl plugin enable hello-node (until running)" "$(ms_since "$t") ms"
  wait_state toru-plugin-hello-node.service 10
  mdwe=$(inside systemctl show -p MemoryDenyWriteExecute --value toru-plugin-hello-node.service)
  [[ $mdwe == no ]] || fail "hello-node's unit has MemoryDenyWriteExecute=$mdwe despite its jit permission"
  route=$(plugin_route hello-node hello)
  [[ $route == "HTTP/1.0 200"* || $route == "HTTP/1.1 200"* ]] || fail "hello-node's route did not answer 200: $route"
  echo "route answered: $(tail -n 1 <<<"$route")"
  score=$(exposure toru-plugin-hello-node.service)
  figure "systemd-analyze security toru-plugin-hello-node" "$score"
  at_most "$score" 1.5 || fail "plugin unit exposure $score is over 1.5"
}

# The whole scenario on one release ($1, a suite), in a sandbox of its own that is stopped at
# the end.
release_test() {
  local suite=$1
  release=$(release_name "$suite")
  name=toru-install-test-$suite
  trap '"$sandbox" stop "$name" >/dev/null 2>&1 || true' EXIT
  boot_release "$suite"
  check_install
  check_local_access
  check_daemon_security
  check_socket_activation
  check_example_plugins
  check_node_plugin
  check_upgrade
  check_backup_restore
  check_purge
  "$sandbox" stop "$name" >/dev/null 2>&1 || true
  trap - EXIT
  name=
}


[[ $(id -u) -eq 0 ]] || fail "needs root (debootstrap, and the sandbox uses namespaces and mounts)"
for suite in "${suites[@]}"; do release_name "$suite" >/dev/null; done

step "packages"
if [[ ${TORU_INSTALL_TEST_NO_BUILD:-} != 1 ]]; then
  packaging/build.sh
fi
shopt -s nullglob
debs=(target/debian/toru_*.deb)
examples=(target/debian/toru-examples_*.deb)
((${#debs[@]} == 1 && ${#examples[@]} == 1)) ||
  fail "expected exactly one toru_*.deb and one toru-examples_*.deb in target/debian/"
# A copy of the packages under test: cargo deb (below, for the upgrade) replaces target/debian's.
mkdir -p target/install-test/debs
rm -f target/install-test/debs/*.deb
cp "${debs[0]}" "${examples[0]}" target/install-test/debs/
debs=(target/install-test/debs/"$(basename "${debs[0]}")")
examples=(target/install-test/debs/"$(basename "${examples[0]}")")
version=$(dpkg-deb -f "${debs[0]}" Version)
# The "newer version" for the upgrade check: the same build, repackaged with a higher version.
upgrade_version="${version%-*}+upgrade1-1"
mkdir -p target/install-test/upgrade
rm -f target/install-test/upgrade/*.deb
cargo deb --no-build -p toru-daemon --deb-version "$upgrade_version" \
  --output target/install-test/upgrade/ >target/install-test/upgrade.log 2>&1 ||
  { cat target/install-test/upgrade.log >&2; fail "cannot build the $upgrade_version package"; }
upgrade=(target/install-test/upgrade/toru_*.deb)
((${#upgrade[@]} == 1)) || fail "no upgrade package in target/install-test/upgrade/"
cp "${debs[0]}" target/debian/   # cargo deb removed it from there
figure "package size (toru, installed-size KiB)" "$(dpkg-deb -f "${debs[0]}" Installed-Size)"

# The single Debian 12 root of earlier versions of this script, now root-bookworm: not left to
# take space in a CI cache.
if [[ -f target/install-test/root/.toru-root-complete ]]; then
  rm -rf --one-file-system target/install-test/root target/install-test/root.log
fi

step "the packages' declared dependencies"
# Depends of both packages, version constraints dropped, first of each alternative, minus the
# packages themselves: the roots hold exactly these (and what debootstrap's minbase has).
mapfile -t depends < <(
  for deb in "${debs[0]}" "${examples[0]}"; do dpkg-deb -f "$deb" Depends; done |
    tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep -v '^toru$' | grep . | sort -u
)
echo "declared dependencies: ${depends[*]}"

step "the Node.js example"
mkdir -p target/install-test/node
rm -f target/install-test/node/*.binary
OUT_DIR=$repo/target/install-test/node examples/hello-plugin-node/build.sh >/dev/null ||
  fail "examples/hello-plugin-node/build.sh failed"

# build.sh ran the host's lintian; each other release's runs here.
host_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
for suite in "${suites[@]}"; do
  [[ $suite == "$host_suite" ]] || check_lintian "$suite"
done

for suite in "${suites[@]}"; do
  suite_started=$SECONDS
  release_test "$suite"
  release=$(release_name "$suite")
  figure "install test on this release" "$((SECONDS - suite_started)) s"
done
release=all

printf '\n== install test passed on %s in %ss; figures:\n' "${suites[*]}" "$((SECONDS - started))"
printf '   %s\n' "${FIGURES[@]}"
