#!/usr/bin/env bash
# debian-root.sh SUITE DIR PKG... — a Debian minbase root of SUITE (bookworm = Debian 12,
# systemd 252; trixie = Debian 13, systemd 257) with PKG... installed, for scripts/systemd-sandbox
# to boot (the install test, and the systemd tests on another systemd than the host's). Built once
# and reused: DIR/.toru-root-complete records the suite (first line) and the packages (second
# line) it was made with; it is rebuilt when it is of another suite, when one of PKG... is not
# installed in it, or when it was made with a package no longer asked for (the packages' Depends
# changed).
# The root is only ever used as the read-only lower layer of an overlay, so runs never change it.
#   TORU_DEBIAN_MIRROR  mirror to debootstrap from (default http://deb.debian.org/debian)
set -euo pipefail
usage="usage: debian-root.sh bookworm|trixie DIR PKG..."
suite=${1:?$usage}
dir=${2:?$usage}
shift 2
case $suite in
  bookworm | trixie) ;;
  *) echo "debian-root: unknown suite '$suite' ($usage)" >&2; exit 1 ;;
esac
mirror=${TORU_DEBIAN_MIRROR:-http://deb.debian.org/debian}
want=$(printf '%s\n' systemd "$@" | sort -u | paste -sd, -)
stamp=$dir/.toru-root-complete

# Usable as a base when it is of $suite and was made with nothing beyond $want; MISSING lists
# what of $want it lacks (installed into it with apt, which is quicker than a new debootstrap).
MISSING=()
reusable() {
  [[ -f $stamp && $(sed -n 1p "$stamp") == "$suite" ]] || return 1
  local pkg
  for pkg in $(sed -n 2p "$stamp" | tr ',' ' '); do
    [[ ,$want, == *,"$pkg",* ]] || return 1
  done
  for pkg in ${want//,/ }; do
    dpkg-query --admindir="$dir/var/lib/dpkg" -W -f '${Status}' "$pkg" 2>/dev/null |
      grep -q "install ok installed" || MISSING+=("$pkg")
  done
}
if reusable; then
  if ((${#MISSING[@]} == 0)); then
    echo "debian-root: reusing $dir ($suite, has $want)"
    exit 0
  fi
  echo "debian-root: adding ${MISSING[*]} to $dir"
  if chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${MISSING[@]}" >>"$dir.log" 2>&1; then
    chroot "$dir" apt-get clean
    printf '%s\n' "$suite" "$want" >"$stamp"
    exit 0
  fi
  echo "debian-root: apt failed (log: $dir.log); making the root afresh" >&2
fi
command -v debootstrap >/dev/null || { echo "debian-root: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "debian-root: debootstrap needs root" >&2; exit 1; }

# Never rm -rf through a mount point a crashed run may have left.
if [[ -e $dir ]]; then
  if findmnt -rn -o TARGET | grep -qF -- "$(realpath "$dir")/"; then
    echo "debian-root: something is mounted under $dir; unmount it first" >&2
    exit 1
  fi
  rm -rf --one-file-system -- "$dir"
fi
mkdir -p "$dir"
started=$SECONDS
echo "debian-root: debootstrap $suite minbase + $want into $dir (a few minutes, once)"
debootstrap --variant=minbase --include="$want" "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 || {
  tail -n 30 "$dir.log" >&2
  echo "debian-root: debootstrap failed (log: $dir.log)" >&2
  exit 1
}
# apt inside the root needs no network for `apt install ./x.deb` once the Depends are there,
# but keep the package lists so a missing dependency is reported by name, not as "not found".
chroot "$dir" apt-get update -qq >>"$dir.log" 2>&1 || echo "debian-root: warning: apt-get update failed in the root" >&2
chroot "$dir" apt-get clean
printf '%s\n' "$suite" "$want" >"$stamp"
echo "debian-root: done in $((SECONDS - started)) s"
