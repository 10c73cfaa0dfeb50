#!/usr/bin/env bash
# Prints prometheusrule.yaml: the groups of alerts.yaml (the one source of the rules) in a PrometheusRule for the
# Prometheus Operator. `make prometheusrule` writes it; `make rules` fails when the file in git differs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cat <<'HEADER'
# Generated from alerts.yaml by `make prometheusrule`: edit alerts.yaml, not this file (`make rules` fails when
# they differ). drydock's alerts for the Prometheus Operator; it needs the operator's CRD, so it is not part of
# config/default: kubectl apply -f config/prometheus/prometheusrule.yaml (the Prometheus's ruleSelector and
# ruleNamespaceSelector must select it).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: drydock
  namespace: drydock-system
  labels:
    app.kubernetes.io/name: drydock
spec:
HEADER
# spec.groups is the rule file's groups: everything from `groups:` on, indented two spaces (blank lines stay empty).
sed -n '/^groups:/,$p' "$here/alerts.yaml" | sed 's/^./  &/'
