#!/usr/bin/env bash
# Runs the end-to-end tests on the local control plane: starts it if it is not running (and then stops it
# afterwards, checking nothing is left behind), builds drydock, runs the e2e crate's tests, the chaos test last.
# Arguments are a test-name filter: e2e/run.sh interference. E2E_TESTS names whole test files instead, and
# K8S_VERSION the Kubernetes version of e2e/cluster/versions.env to run on (the newest by default).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
started=no
out=$(e2e/cluster/up.sh)
echo "$out"
[[ $out == *"already up"* ]] || started=yes
cleanup() {
  local status=$?
  if [ $started = yes ]; then e2e/cluster/down.sh || status=1; fi
  # Every Prometheus a test starts (e2e/src/prometheus.rs) keeps its data under .cache/prometheus/ and is killed
  # when the test ends: one still running was leaked.
  local left
  left=$(pgrep -f -- "--storage.tsdb.path=$root/.cache/prometheus/" || true)
  if [ -n "$left" ]; then
    echo "e2e: Prometheus processes the tests started are still running: $(ps -o pid=,args= -p "${left//$'\n'/,}")" >&2
    status=1
  fi
  exit $status
}
trap cleanup EXIT
cargo build --bin drydock
target=${CARGO_TARGET_DIR:-target}
[[ $target == /* ]] || target=$root/$target
kubectl() { .cache/bin/kubectl --kubeconfig .cache/kubeconfig "$@"; }
kubectl apply --server-side --force-conflicts -f crds/nodemaintenance.yaml -f crds/maintenanceschedule.yaml >/dev/null
kubectl wait --for condition=Established --timeout 60s crd/nodemaintenances.drydock.dev crd/maintenanceschedules.drydock.dev >/dev/null
export DRYDOCK_BIN=${DRYDOCK_BIN:-$target/debug/drydock}   # set it to test another build
if [ -n "${E2E_TESTS:-}" ]; then # whole test files, e.g. E2E_TESTS="maintenance schedule" e2e/run.sh
  cargo test -p drydock-e2e $(printf -- '--test %s ' $E2E_TESTS) -- --test-threads "${E2E_THREADS:-4}" "$@"
  exit
fi
if [ $# -gt 0 ]; then # a filter, e.g. `e2e/run.sh interference` or `CHAOS_SEED=1 e2e/run.sh chaos`
  cargo test -p drydock-e2e -- --test-threads "${E2E_THREADS:-4}" "$@"
  exit
fi
cargo test -p drydock-e2e -- --test-threads "${E2E_THREADS:-4}" --skip chaos
# The chaos test crashes and restarts the shared API server and etcd: alone, after everything else.
cargo test -p drydock-e2e --test chaos -- --nocapture
