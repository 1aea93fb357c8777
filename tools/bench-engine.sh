#!/usr/bin/env bash
# Builds Shoal in release mode and runs the storage-engine micro-benchmark on one core.
# Figures go to stdout and bench-out/engine.json. Extra arguments go to the benchmark
# (see `--help`), e.g. `tools/bench-engine.sh --records 500000 --cpu 1`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p shoal-bench-harness --bin shoal-engine-bench
exec target/release/shoal-engine-bench "$@"
