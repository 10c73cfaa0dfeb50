#!/usr/bin/env bash
# Crashes one running component (SIGKILL) and starts it again with the arguments up.sh gave it, then waits
# until it answers. The chaos e2e test uses it for etcd and kube-apiserver; data (etcd's) survives.
#   e2e/cluster/restart.sh etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kwok [seconds down]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
name=${1:?usage: restart.sh <component> [seconds down]}
down_for=${2:-0}
[[ " $components " == *" $name "* ]] || { echo "restart: unknown component $name (one of: $components)" >&2; exit 2; }
[ -f "$work/$name.args" ] || { echo "restart: $name was not started by up.sh (no $work/$name.args)" >&2; exit 1; }
pid=$(cat "$work/$name.pid")
kill -KILL "$pid" 2>/dev/null || true
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then echo "restart: $name (pid $pid) survived SIGKILL" >&2; exit 1; fi
sleep "$down_for"
echo "--- restarted by restart.sh at $(date -u +%FT%TZ)" >>"$logs/$name.log"
# exec: the PID recorded is the component itself, not a shell around it.
eval "exec \"\$bin/\$name\" $(cat "$work/$name.args")" >>"$logs/$name.log" 2>&1 &
echo $! > "$work/$name.pid"
pki=$work/pki
case $name in
  etcd) check=(curl -fsS "http://127.0.0.1:$ETCD_PORT/health") ;;
  kube-apiserver) check=(curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key"
                         "https://127.0.0.1:$APISERVER_PORT/readyz") ;;
  kube-controller-manager) check=(curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz") ;;
  kube-scheduler) check=(curl -fsSk "https://127.0.0.1:$SCHEDULER_PORT/healthz") ;;
  kwok) check=(curl -fsS "http://127.0.0.1:$KWOK_PORT/healthz") ;;
esac
for _ in $(seq 450); do
  kill -0 "$(cat "$work/$name.pid")" 2>/dev/null || { echo "restart: $name exited; see $logs/$name.log" >&2; exit 1; }
  if "${check[@]}" >/dev/null 2>&1; then echo "restarted $name"; exit 0; fi
  sleep 0.2
done
echo "restart: $name not ready after 90s; see $logs/$name.log" >&2
exit 1
