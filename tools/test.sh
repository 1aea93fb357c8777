#!/usr/bin/env bash
# Runs every test of the workspace. Randomised test sizes come from the environment, with
# defaults sized for CI (2 cores, well under its time budget):
#   SHOAL_PROPTEST_CASES   proptest cases per property            (default 24)
#   SHOAL_TEST_SCALE       rows written by volume tests           (default 3000)
#   SHOAL_CRASH_ITERATIONS kill -9 rounds of the engine crash test (default 6)
set -euo pipefail
cd "$(dirname "$0")/.."
export SHOAL_PROPTEST_CASES="${SHOAL_PROPTEST_CASES:-24}"
export SHOAL_TEST_SCALE="${SHOAL_TEST_SCALE:-3000}"
export SHOAL_CRASH_ITERATIONS="${SHOAL_CRASH_ITERATIONS:-6}"
cargo test --workspace --locked "$@"
