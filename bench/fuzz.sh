#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 30), one after the other with
# one worker, and fails if any of them finds a crash, a timeout or an out-of-memory input.
# Prints each target's executions; full logs are in fuzz/target/fuzz-logs/, a crashing input in
# fuzz/artifacts/<target>/ (replay it: cd fuzz && cargo fuzz run -s none <target> <file>).
#
#   bench/fuzz.sh [SECONDS]            all targets
#   FUZZ_TARGETS="metadata" bench/fuzz.sh 600
#   FUZZ_SANITIZER=address bench/fuzz.sh   with AddressSanitizer (slower; default: none)
#   FUZZ_RUNS=10000000 bench/fuzz.sh 7200  each target stops after that many executions
#
# Why RUSTC_BOOTSTRAP=1: cargo-fuzz instruments the build with `-Zsanitizer`/sancov flags that
# only a nightly compiler accepts. This machine (and CI) have only the stable toolchain and
# cannot fetch another; RUSTC_BOOTSTRAP=1 lets the stable compiler accept nightly flags. It is
# set for the fuzz build only, never for the product's own build.
#
# Why no sanitizer by default: Toru's own crates deny unsafe code, so AddressSanitizer would
# only watch dependencies, at about half the speed; the properties the targets assert are what
# we look for. FUZZ_SANITIZER=address turns it on.
#
# What the fuzzer learns (new inputs) goes to fuzz/target/grown-corpus/<target>, kept between
# runs but never committed; the hand-made seeds are fuzz/corpus/<target>.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-30}
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
sanitizer=${FUZZ_SANITIZER:-none}
runs=${FUZZ_RUNS:-}
[[ -z $runs || $runs =~ ^[0-9]+$ ]] || { echo "FUZZ_RUNS must be a number" >&2; exit 2; }
export RUSTC_BOOTSTRAP=1

if ! command -v c++ >/dev/null; then
  # libfuzzer-sys compiles libFuzzer itself, which is C++.
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++ >/dev/null
  else
    echo "fuzz: a C++ compiler is needed (apt-get install g++)" >&2
    exit 1
  fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (once; cached in ~/.cargo/bin)"
  cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
read -r -a targets <<<"${FUZZ_TARGETS:-$(cargo fuzz list | tr '\n' ' ')}"
echo "fuzz: building ${#targets[@]} targets (release, debug assertions, sanitizer: $sanitizer)"
cargo fuzz build -s "$sanitizer"

logs=$root/fuzz/target/fuzz-logs
mkdir -p "$logs"
failed=()
printf '\n%-18s %8s %14s %10s %8s  %s\n' target seconds executions 'execs/s' corpus result
for target in "${targets[@]}"; do
  grown=$root/fuzz/target/grown-corpus/$target
  mkdir -p "$grown" "$root/fuzz/artifacts/$target"
  touch "$logs/$target.started"
  log=$logs/$target.log
  # -timeout: one input taking 10 s is a hang, a failure; -rss_limit_mb: libFuzzer's default,
  # stated. The first corpus directory receives new inputs, the seeds are only read.
  status=ok
  started=$SECONDS
  if ! cargo fuzz run -s "$sanitizer" "$target" "$grown" "$root/fuzz/corpus/$target" -- \
      -max_total_time="$seconds" ${runs:+-runs="$runs"} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$log" 2>&1; then
    status=FAILED
    failed+=("$target")
  fi
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -n1)
  rate=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log" | tail -n1)
  corpus=$(find "$grown" -type f | wc -l)
  printf '%-18s %8s %14s %10s %8s  %s\n' "$target" "$((SECONDS - started))" "${execs:-?}" "${rate:-?}" "$corpus" "$status"
done

if ((${#failed[@]})); then
  for target in "${failed[@]}"; do
    echo
    echo "=== $target failed (whole log: fuzz/target/fuzz-logs/$target.log):"
    grep -m1 -A6 -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer' "$logs/$target.log" || tail -n 20 "$logs/$target.log"
    echo "inputs it saved: $(find "$root/fuzz/artifacts/$target" -type f -newer "$logs/$target.started" | tr '\n' ' ')"
  done
  exit 1
fi
