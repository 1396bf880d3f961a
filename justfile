# rca: the two commands of the README, and the benchmarks.
set shell := ["bash", "-euo", "pipefail", "-c"]

# Build, create a fixture monorepo, and investigate an incident in it with the embedded model.
demo: model
    # The build compiles zlib-ng with cmake (git2's zlib-ng-compat).
    command -v cmake >/dev/null || python3 -m pip install --quiet cmake
    cargo build --release --locked
    rm -rf target/demo && mkdir -p target/demo
    target/release/rca fixture --spec fixtures/codeowners-monorepo.yaml --out target/demo/monorepo
    target/release/rca investigate --repo target/demo/monorepo \
        --title "checkout p99 latency doubled" \
        --impact "POST /v1/checkout p99 went from 450ms to 950ms; traces show the extra time waiting on catalog." \
        --team @acme/checkout --since 14d --until 2024-05-03T17:00:00Z --ranker llm --explain
    # Then prove it: bisect the window from the ranking. The reproduction here
    # stands in for a real one: it fails once the fixture's culprit is in.
    culprit=$(sed -n 's/^ *root_cause: *//p' target/demo/monorepo.cases.yaml) && \
    target/release/rca bisect --repo target/demo/monorepo \
        --title "checkout p99 latency doubled" --team @acme/checkout \
        --since 14d --until 2024-05-03T17:00:00Z \
        --run "if git merge-base --is-ancestor $culprit HEAD; then echo slow; exit 1; fi"

# Run every test (unit, integration, the real model, and llama.cpp as the reference and the server).
test: model
    scripts/llama-ref build
    cargo test --locked

# Install the embedded default model into models/.
model:
    models/fetch

# Benchmark listing history against `git log --numstat` (needs a DPDK mirror in $RCA_MIRRORS).
bench-history:
    cargo bench --locked --bench history

# Benchmark a whole cold investigation of the largest development window against `git log --numstat` (needs the DPDK mirror in $RCA_MIRRORS).
bench-investigate:
    cargo bench --locked --bench investigate

# Benchmark prompt throughput against llama.cpp on the same GGUF and threads.
bench-model: model
    scripts/llama-ref build
    cargo bench --locked --bench prompt_speed

# The same, then the pointwise judge reading 60 change cards of DPDK's dpdk-8 window against llama.cpp (needs the DPDK mirror in $RCA_MIRRORS).
bench-judge: model
    scripts/llama-ref build
    cargo bench --locked --bench prompt_speed -- --runs 3 --judge

# Record llama.cpp's next-token log-probabilities for the parity test (tests/data/logprob_reference.json).
parity-reference: model
    RCA_RECORD_LLAMA="$(scripts/llama-ref build)/llama-logprobs" cargo test --locked --test model next_token_logprobs_match_llama_cpp -- --nocapture

# Fuzz every parser of untrusted input for SECONDS each (cargo-fuzz, stable Rust; docs/fuzzing.md).
fuzz SECONDS="600":
    fuzz/run.sh {{SECONDS}}
