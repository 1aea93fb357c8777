#!/usr/bin/env bash
# Runs every test of the workspace. Randomised test sizes come from the environment, with
# defaults sized for CI (2 cores, well under its time budget):
#   SHOAL_PROPTEST_CASES   proptest cases per property            (default 24)
#   SHOAL_TEST_SCALE       rows written by volume tests           (default 3000)
#   SHOAL_CRASH_ITERATIONS kill -9 rounds of the engine crash test (default 6)
# The last line sums every test binary's results ("N passed, N failed").
set -euo pipefail
cd "$(dirname "$0")/.."
export SHOAL_PROPTEST_CASES="${SHOAL_PROPTEST_CASES:-24}"
export SHOAL_TEST_SCALE="${SHOAL_TEST_SCALE:-3000}"
export SHOAL_CRASH_ITERATIONS="${SHOAL_CRASH_ITERATIONS:-6}"
# The flatbuffers code in net/src/generated must match the schema.
bash tools/flatc.sh --check
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
# Examples in the docs must still compile and run.
cargo test --workspace --locked --doc 2>&1 | tee -a "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
