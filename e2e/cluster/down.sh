#!/usr/bin/env bash
# Stops every component started by up.sh and checks that no process and no port is left behind.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
for c in $components; do
  f=$work/$c.pid
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  rm -f "$f"
done
sleep 0.2
left=$(listeners)
if [ -n "$left" ]; then
  echo "cluster-down: processes still listen on the cluster's ports: $(ps -o pid=,comm= -p "${left//$'\n'/,}" | tr '\n' ' ')" >&2
  exit 1
fi
echo "cluster down: no component running, no port of $ports in use"
