#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a fixed time, one process
# (one core) at a time, with libFuzzer through cargo-fuzz on stable Rust.
#
#   fuzz/run.sh [SECONDS] [TARGET...]      (default: 300 s, every target)
#
# New inputs go to fuzz/work/TARGET (not committed); the committed seeds in
# fuzz/corpus/TARGET are read only. Crashes, timeouts and out-of-memory
# inputs go to fuzz/artifacts/TARGET/. The last lines of each run's log
# (fuzz/work/TARGET.log) hold libFuzzer's final statistics.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(codeowners maintainers owners cases config when gguf adapter learned)
export RUSTC_BOOTSTRAP=1
# git2's zlib-ng is built with cmake.
command -v cmake >/dev/null || python3 -m pip install --quiet cmake
for t in "${targets[@]}"; do
    mkdir -p "fuzz/work/$t" "fuzz/artifacts/$t"
    echo "== $t: ${seconds}s"
    status=0
    cargo fuzz run --sanitizer none "$t" "fuzz/work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" \
        > "fuzz/work/$t.log" 2>&1 || status=$?
    grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb|Done [0-9]+ runs)' "fuzz/work/$t.log" || true
    echo "corpus: $(ls "fuzz/work/$t" | wc -l) new + $(ls "fuzz/corpus/$t" | wc -l) seeds; exit $status"
    ls "fuzz/artifacts/$t"
done
