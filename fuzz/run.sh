#!/usr/bin/env bash
# Builds the fuzz targets once, then runs every target (or the named ones) for SECONDS each,
# one process at a time, from a scratch copy of its seed corpus (the committed corpus never
# grows). Prints per target the executions, libFuzzer's final coverage (`cov:`, `ft:`) and
# whether it found anything; exits non-zero on any finding. Crash inputs land in
# fuzz/artifacts/<target>/. See fuzz/README.md.
#
#   fuzz/run.sh SECONDS [TARGET...]
#   FUZZ_SANITIZER=none fuzz/run.sh 60 json_body     # without AddressSanitizer
#   FUZZ_SEED=1 fuzz/run.sh 15                        # reproducible order (as CI runs it)
set -euo pipefail
cd "$(dirname "$0")"

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 SECONDS [TARGET...]" >&2
  exit 2
fi
seconds=$1
shift

# cargo fuzz passes nightly-only flags (-Z, -C passes=sancov-module); this lets a stable
# toolchain take them, so CI needs no nightly.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never
sanitizer=${FUZZ_SANITIZER:-address}
# cargo fuzz's own setting: Rust's generics trip ASan's one-definition-rule check falsely.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}

# `cargo fuzz build` has no --locked: refuse a Cargo.lock that would have to change instead.
cargo metadata --locked --format-version 1 >/dev/null
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

started=$(date +%s)
cargo fuzz build --sanitizer "$sanitizer"
echo "build: $(($(date +%s) - started)) s"

host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=target/$host/release
work=$(mktemp -d "${TMPDIR:-/tmp}/h2gate-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The dictionary each target's inputs are made of (optional).
dict_for() {
  case $1 in
    path_template | route_match) echo dict/template.dict ;;
    query_params) echo dict/query.dict ;;
    json_body) echo dict/json.dict ;;
    config_toml) echo dict/toml.dict ;;
    yaml_rules) echo dict/yaml.dict ;;
  esac
}

failed=()
printf '%-16s %10s %8s %8s %8s  %s\n' target execs exec/s cov ft result
for target in "${targets[@]}"; do
  corpus=$work/$target
  mkdir -p "$corpus" "artifacts/$target"
  if [[ -d corpus/$target ]]; then
    cp corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  fi
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    -artifact_prefix="artifacts/$target/")
  # A fixed seed (CI): the same inputs in the same order on every run, so a short pass finds
  # only what a longer local run with that seed would have found first.
  if [[ -n ${FUZZ_SEED:-} ]]; then
    args+=(-seed="$FUZZ_SEED")
  fi
  dict=$(dict_for "$target")
  if [[ -n $dict ]]; then
    args+=(-dict="$dict")
  fi
  log=$work/$target.log
  status=0
  "$bin_dir/$target" "${args[@]}" "$corpus" >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  if [[ $status -eq 0 ]]; then
    result=ok
  else
    result="FINDING (exit $status)"
    failed+=("$target")
    # What libFuzzer said about it, and where the input was saved.
    grep -E 'panicked|ERROR: |SUMMARY|Test unit written|artifact_prefix' "$log" | head -n 20 >&2 || true
  fi
  printf '%-16s %10s %8s %8s %8s  %s\n' "$target" "${execs:--}" "${rate:--}" "${cov:--}" \
    "${ft:--}" "$result"
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "findings in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
