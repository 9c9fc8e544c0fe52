#!/usr/bin/env bash
# Self-test for scripts/systemd-sandbox: boots a sandbox with a bind-mounted
# temp dir, checks that real systemd works inside (transient units with
# DynamicUser, journald, the D-Bus system bus), that writes to the bind reach
# the host and writes elsewhere do not, that two sandboxes coexist, and that
# `stop` leaves no mounts, processes or cgroups behind.
#
# Usage: sudo scripts/test-systemd-sandbox.sh      (exit status 0 = all PASS)
#
# Single-quoted `sh -c '...$VAR...'` strings are meant to expand inside the
# sandbox, not here:
# shellcheck disable=SC2016
set -euo pipefail

SB=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/systemd-sandbox
NAME=selftest-$$
NAME2=selftest2-$$
UNIT=toru-selftest-hello
FAILURES=0
BIND_DIR=

pass() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; FAILURES=$((FAILURES + 1)); }

# check DESCRIPTION CMD...: PASS if CMD succeeds (its stdout is dropped).
check() {
  local desc=$1; shift
  if "$@" >/dev/null; then pass "$desc"; else fail "$desc"; fi
}

not() { ! "$@"; }
in_sb() { "$SB" exec "$NAME" -- "$@"; }
bus_has_systemd() { in_sb busctl list --no-pager | grep -q org.freedesktop.systemd1; }
both_running() { "$SB" status "$NAME" && "$SB" status "$NAME2"; }
bind_files_intact() {
  grep -qx from-inside "$BIND_DIR/inside.txt" && grep -qx before-boot "$BIND_DIR/pre-existing.txt"
}
run_cleaned_up() { not "$SB" status "$NAME" && test ! -e "/run/toru-sandbox/$NAME"; }

# Retry CMD for up to ~5 s (journald handles unit output asynchronously).
eventually() {
  local i
  for ((i = 0; i < 50; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

cleanup() {
  "$SB" stop "$NAME" >/dev/null 2>&1 || true
  "$SB" stop "$NAME2" >/dev/null 2>&1 || true
  [[ -z $BIND_DIR ]] || rm -rf -- "$BIND_DIR"
}
trap cleanup EXIT

host_mounts() { findmnt -rn -o TARGET,SOURCE,FSTYPE | sort; }

# "pid:starttime" of every process in the PID namespace with inode $1.  The
# start time makes the list immune to PID reuse; comparing snapshots (rather
# than the inode later) is immune to the kernel reusing the inode number for
# the next namespace created on the machine.
procs_in_pidns() {
  local p start
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/ns/pid" 2>/dev/null) == "pid:[$1]" ]] || continue
    start=$(starttime "${p#/proc/}") && echo "${p#/proc/}:$start"
  done
  return 0
}

# Start time (field 22 of /proc/PID/stat) of PID $1.
starttime() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -r -a fields <<<"${stat##*) }"      # fields after "pid (comm) "
  echo "${fields[19]}"
}

# Has PID $1 (a child of ours) exited, i.e. is it gone or a zombie?
exited() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  [[ ${stat##*) } == Z* ]]
}

# Which of the given "pid:starttime" entries are still alive?
still_alive() {
  local entry
  for entry in "$@"; do
    [[ $(starttime "${entry%%:*}") == "${entry#*:}" ]] && echo "${entry%%:*}"
  done
  return 0
}

# Does the host cgroup2 hierarchy still hold toru-sandbox/$1?
cgroup_left() {
  unshare --mount --propagation private -- bash -c '
    d=$(mktemp -d); mount -t cgroup2 cgroup2 "$d" || exit 1
    test -d "$d/toru-sandbox/$1"; rc=$?; umount "$d"; rmdir "$d"; exit $rc' _ "$1"
}

# ------------------------------------------------------------------ boot ---
[[ $(id -u) == 0 ]] || { echo "must run as root" >&2; exit 2; }
BIND_DIR=$(mktemp -d /tmp/toru-sandbox-test.XXXXXX)
# Must survive boot: systemd-tmpfiles empties /tmp ("D /tmp") inside, and
# the bind mount point lives there.
echo before-boot >"$BIND_DIR/pre-existing.txt"
MOUNTS_BEFORE=$(host_mounts)
HOST_HOSTNAME=$(hostname)

t0=${EPOCHREALTIME/./}
if ! PID=$("$SB" start "$NAME" --bind "$BIND_DIR"); then
  fail "start $NAME"
  exit 1
fi
BOOT_MS=$(((${EPOCHREALTIME/./} - t0) / 1000))
pass "start $NAME (PID 1 = host pid $PID)"
echo "INFO  boot-to-running took ${BOOT_MS} ms"
PIDNS=$(readlink "/proc/$PID/ns/pid"); PIDNS=${PIDNS//[^0-9]/}
UNSHARE_PID=$(cat "/run/toru-sandbox/$NAME/unshare.pid")

# ---------------------------------------------------------------- inside ---
check "status reports running" "$SB" status "$NAME"
state=$(in_sb systemctl is-system-running || true)
check "systemctl is-system-running = running (got '$state')" test "$state" = running
check "hostname inside is $NAME" test "$(in_sb hostname)" = "$NAME"
check "host hostname unchanged ($HOST_HOSTNAME)" test "$(hostname)" = "$HOST_HOSTNAME"
check "systemd-journald is active" in_sb systemctl -q is-active systemd-journald.service
check "dbus.socket is active" in_sb systemctl -q is-active dbus.socket

out=$(in_sb systemd-run --wait --quiet --unit="$UNIT" -p DynamicUser=yes \
  -p ProtectSystem=strict -p PrivateTmp=yes \
  /bin/sh -c 'echo hello-from-unit uid=$(id -u)' 2>&1) && rc=0 || rc=$?
check "systemd-run --wait DynamicUser transient unit exits 0 (rc=$rc${out:+: $out})" test "$rc" = 0
journal_has() {
  in_sb journalctl -u "$UNIT.service" -o cat --no-pager 2>/dev/null | grep -q "$1"
}
check "journalctl -u $UNIT shows hello-from-unit" eventually journal_has hello-from-unit
uid=$(in_sb journalctl -u "$UNIT.service" -o cat --no-pager |
  sed -n 's/^hello-from-unit uid=\([0-9]*\)$/\1/p' | head -n1)
check "unit ran under a dynamic UID (uid=${uid:-?})" test "${uid:-0}" -ge 61184

check "system bus socket exists" in_sb test -S /run/dbus/system_bus_socket
check "busctl status answers on the system bus" in_sb busctl status --no-pager
check "org.freedesktop.systemd1 is on the bus" bus_has_systemd

# ---------------------------------------------------------- exec details ---
rc=0; in_sb sh -c 'exit 42' || rc=$?
check "exec propagates exit code (42, got $rc)" test "$rc" = 42
check "exec passes stdin through" test "$(echo piped-in | in_sb cat)" = piped-in
check "exec --env sets variables" \
  test "$("$SB" exec "$NAME" --env FOO=bar -- sh -c 'echo "$FOO"')" = bar
check "exec runs in / with a sane PATH" \
  test "$(in_sb sh -c 'echo "$PWD:$PATH"')" = "/:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# ------------------------------------------------------------ filesystem ---
check "pre-existing file in the bind survived boot (inside)" \
  test "$(in_sb cat "$BIND_DIR/pre-existing.txt")" = before-boot
in_sb sh -c "echo from-inside >'$BIND_DIR/inside.txt'"
check "file written inside to the bind is visible on the host" \
  grep -qx from-inside "$BIND_DIR/inside.txt"
echo from-host >"$BIND_DIR/host.txt"
check "file written on the host is visible inside the bind" \
  test "$(in_sb cat "$BIND_DIR/host.txt")" = from-host
etc_file=/etc/toru-sandbox-selftest-$$
in_sb sh -c "echo secret >$etc_file"
check "file written inside to /etc exists inside" in_sb test -f "$etc_file"
check "file written inside to /etc is NOT on the host" test ! -e "$etc_file"

# ------------------------------------------------------ second sandbox ---
if PID2=$("$SB" start "$NAME2" 2>/dev/null); then
  pass "second sandbox $NAME2 starts alongside (pid $PID2)"
  check "both sandboxes running at once" both_running
  check "second sandbox has its own hostname" \
    test "$("$SB" exec "$NAME2" -- hostname)" = "$NAME2"
  check "second sandbox does not see the first one's /etc write" \
    "$SB" exec "$NAME2" -- test ! -e "$etc_file"
  "$SB" stop "$NAME2"
  check "stopping $NAME2 leaves $NAME running" "$SB" status "$NAME"
else
  fail "second sandbox $NAME2 starts alongside"
fi

# ----------------------------------------------------------------- stop ---
# A long-running command started with `exec` must die with the sandbox too.
("$SB" exec "$NAME" -- sleep 1000 </dev/null >/dev/null || true) 2>/dev/null &
BG_EXEC=$!
check "a background exec is running inside" eventually in_sb pgrep -x sleep
mapfile -t INSIDE_PROCS < <(procs_in_pidns "$PIDNS")
echo "INFO  ${#INSIDE_PROCS[@]} processes inside before stop"
check "stop $NAME" "$SB" stop "$NAME"
check "stop is idempotent" "$SB" stop "$NAME"
check "status reports not running" not "$SB" status "$NAME"
check "sandbox PID 1 is gone" test ! -e "/proc/$PID"
check "host-side unshare process is gone" test ! -e "/proc/$UNSHARE_PID"
check "the background exec ended" eventually exited "$BG_EXEC"
left=$(still_alive "${INSIDE_PROCS[@]}")
check "none of those processes is left${left:+ (left: $left)}" test -z "$left"
check "host mount table identical to before start" test "$(host_mounts)" = "$MOUNTS_BEFORE"
check "state dir /run/toru-sandbox/$NAME removed" test ! -e "/run/toru-sandbox/$NAME"
check "no cgroup toru-sandbox/$NAME left" not cgroup_left "$NAME"
check "files in the bind survive on the host" bind_files_intact

# ------------------------------------------------------------------ run ---
rc=0; "$SB" run "$NAME" -- sh -c 'systemctl is-system-running >/dev/null && exit 7' || rc=$?
check "run propagates exit code (7, got $rc)" test "$rc" = 7
check "run cleaned up after itself" run_cleaned_up
check "host mount table still identical" test "$(host_mounts)" = "$MOUNTS_BEFORE"

echo "INFO  boot-to-running: ${BOOT_MS} ms"
if ((FAILURES)); then
  echo "RESULT: $FAILURES check(s) FAILED"
  exit 1
fi
echo "RESULT: all checks passed"
