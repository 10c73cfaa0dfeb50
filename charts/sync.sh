#!/usr/bin/env bash
# The chart's copies of files whose source is elsewhere in the repository: the CRDs (crds/, generated from the Rust
# types), the alert rules (config/prometheus/alerts.yaml) and the Grafana dashboard (config/grafana/). Helm reads
# only files inside the chart's directory, hence copies. `charts/sync.sh` writes them (`make chart-sync`);
# `charts/sync.sh --check` fails, naming the fix, when one differs (`make chart`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
chart=$root/charts/drydock
pairs=(
  crds/nodemaintenance.yaml:crds/nodemaintenance.yaml
  crds/maintenanceschedule.yaml:crds/maintenanceschedule.yaml
  config/prometheus/alerts.yaml:files/alerts.yaml
  config/grafana/drydock-dashboard.json:files/drydock-dashboard.json
)
status=0
for pair in "${pairs[@]}"; do
  src=$root/${pair%%:*} dst=$chart/${pair#*:}
  if [ "${1:-}" = --check ]; then
    cmp -s "$src" "$dst" || { echo "charts/drydock/${pair#*:} differs from ${pair%%:*}: run 'make chart-sync'" >&2; status=1; }
  else
    mkdir -p "$(dirname "$dst")" && cp "$src" "$dst"
  fi
done
exit $status
