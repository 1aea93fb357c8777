#!/usr/bin/env bash
# Creates (once) the Python virtualenv of the DynamoDB API integration suite at
# ${CARGO_TARGET_DIR:-target}/pyenv and installs dynamo/tests/python/requirements.txt into
# it. A second run with the same requirements does nothing. Progress goes to stderr; the
# last line of stdout is the venv's python.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
venv="$target/pyenv"
requirements="$root/dynamo/tests/python/requirements.txt"
stamp="$venv/.requirements.sha256"
python="$venv/bin/python"

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ -x "$python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$python" -c 'import boto3, pytest' 2>/dev/null; then
    echo "$python"
    exit 0
fi

# Any CPython 3.9 or newer will do; prefer 3.11, the version the pins were checked on.
base=""
for candidate in python3.11 python3 python3.12 python3.13 python3.10 python3.9; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
        base="$("$candidate" -c 'import sys; print(sys.executable)')"
        break
    fi
done
if [[ -z "$base" ]]; then
    echo "pyenv.sh: no python3 (3.9 or newer) found" >&2
    exit 1
fi

# Debian splits venv and ensurepip out of the interpreter package.
if ! "$base" -c 'import venv, ensurepip' 2>/dev/null; then
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
        echo "pyenv.sh: installing python3-venv" >&2
        ver="$("$base" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq "python${ver}-venv" >&2 || apt-get install -y -qq python3-venv >&2
    else
        echo "pyenv.sh: $base lacks the venv module; install python3-venv" >&2
        exit 1
    fi
fi

mkdir -p "$target"
# One installer at a time; a run that waited finds the work done.
exec 9>"$target/pyenv.lock"
flock 9
if [[ -x "$python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$python"
    exit 0
fi
echo "pyenv.sh: creating $venv with $base" >&2
rm -rf "$venv"
"$base" -m venv "$venv" >&2
"$python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
echo "$want" >"$stamp"
echo "$python"
