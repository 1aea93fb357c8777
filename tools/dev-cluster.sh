#!/usr/bin/env bash
# Builds the `shoal` binary in release mode and runs a local 3-node cluster on 127.0.0.1-3
# (1 shard each, unpinned; native protocol :7400, shard ports :7401, HTTP :7480, internode
# :7470 on each address; data and a restartable shoal.toml per node under ./shoal-cluster).
# Prints one "ready:" line once every node serves and sees the others; Ctrl-C stops all.
# Extra arguments go to `shoal dev-cluster` (e.g. --nodes 5, --base-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -l unlimited 2>/dev/null || ulimit -l 65536 2>/dev/null || true
cargo build --release --locked -p shoal-cli
exec target/release/shoal dev-cluster --nodes 3 --base-dir ./shoal-cluster "$@"
