#!/usr/bin/env bash
# Runs the end-to-end tests on the local control plane: starts it if it is not running (and then stops it
# afterwards, checking nothing is left behind), builds drydock, runs the e2e crate's tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
started=no
if ! e2e/cluster/up.sh | grep -q 'already up'; then started=yes; fi
cleanup() { if [ $started = yes ]; then e2e/cluster/down.sh; fi; }
trap cleanup EXIT
cargo build --bin drydock
DRYDOCK_BIN=$root/target/debug/drydock cargo test -p drydock-e2e -- --test-threads "${E2E_THREADS:-4}" "$@"
