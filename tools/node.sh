#!/usr/bin/env bash
# Builds the `shoal` binary in release mode and runs a node on the defaults of
# tuning/shoal.toml (127.0.0.1:7400, shard ports 7401+, health and metrics on :7480, data in
# ./shoal-data). Extra arguments go to `shoal server` (e.g. --config FILE, --shards 1).
set -euo pipefail
cd "$(dirname "$0")/.."
# glommio registers I/O memory per shard; raise the lock limit when we may.
ulimit -l unlimited 2>/dev/null || ulimit -l 65536 2>/dev/null || true
cargo build --release --locked -p shoal-cli
exec target/release/shoal server "$@"
