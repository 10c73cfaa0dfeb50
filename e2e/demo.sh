#!/usr/bin/env bash
# `make demo`: one node maintenance end to end on the real local control plane (e2e/cluster): three kwok nodes,
# a Deployment guarded by a PodDisruptionBudget and a DaemonSet; drydock drains the busiest node, holds it, and
# gives it back exactly as it was when the NodeMaintenance is deleted.
#
# drydock runs on this machine with exactly the permissions of config/rbac: its kubeconfig impersonates the
# drydock ServiceAccount, so a missing RBAC rule fails here as it would in a cluster.
# The cluster stays up afterwards so you can look around; `make cluster-down` stops it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

kubeconfig=$root/.cache/kubeconfig
controller_kubeconfig=$root/.cache/drydock-demo.kubeconfig
log=$root/.cache/logs/drydock-demo.log
ns=demo
nodes=(demo-1 demo-2 demo-3)
demo_label=drydock.dev/demo                 # on every object the demo makes, so a re-run can clear them
drain_limit=120                             # seconds the drain may take before the demo gives up
controller_pid=""
drydock=${CARGO_TARGET_DIR:-target}/debug/drydock   # as cargo builds it (relative to the checkout, or absolute)

kubectl() { "$root/.cache/bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Prints a kubectl command as you would type it, then runs it.
show() { printf '\033[2m$ kubectl %s\033[0m\n' "$*"; kubectl "$@"; }
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 0.5 s until it succeeds; gives up naming WHAT.
wait_until() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "gave up after ${limit}s waiting for $what"
    sleep 0.5
  done
}

# SIGTERM, as Kubernetes stops a pod; drydock exits within 2 s of it (a rollout waits for that).
stop_controller() {
  if [ -n "$controller_pid" ] && kill -0 "$controller_pid" 2>/dev/null; then
    kill -TERM "$controller_pid" 2>/dev/null || true
    local i
    for i in $(seq 50); do kill -0 "$controller_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$controller_pid" 2>/dev/null; then
      kill -KILL "$controller_pid" 2>/dev/null || true
      printf '\ndemo: drydock was still running 5 s after SIGTERM (killed it); see %s\n' "$log" >&2
      controller_pid=""
      return 1
    fi
    wait "$controller_pid" 2>/dev/null || true
    controller_pid=""
  fi
}
trap stop_controller EXIT
trap 'exit 130' INT TERM   # so Ctrl-C also runs the EXIT trap (a background job ignores SIGINT in a script)

controller_log_tail() {
  echo "--- last lines of $log:" >&2
  tail -n 30 "$log" >&2 || true
}

start_cluster() {
  say "Building the pinned control plane (only the first run builds; later runs reuse ~/.cache/drydock/bin)"
  e2e/cluster/build.sh
  say "Starting the control plane on 127.0.0.1 (etcd, kube-apiserver, controller-manager, scheduler, kwok)"
  e2e/cluster/up.sh
}

build_drydock() {
  say "Building drydock"
  cargo build --bin drydock
}

install_drydock() {
  say "Installing drydock's CRDs (NodeMaintenance, MaintenanceSchedule)"
  [ -f crds/nodemaintenance.yaml ] && [ -f crds/maintenanceschedule.yaml ] || die "crds/ is incomplete: run 'make crds'"
  kubectl apply -f crds/nodemaintenance.yaml -f crds/maintenanceschedule.yaml
  kubectl wait --for=condition=Established --timeout=30s \
    crd/nodemaintenances.drydock.dev crd/maintenanceschedules.drydock.dev

  say "Installing drydock's RBAC (config/rbac), the run-task admission policy (config/policy) and a kubeconfig that acts as its ServiceAccount"
  kubectl apply -f config/manager/namespace.yaml
  kubectl apply -k config/rbac
  kubectl apply -k config/policy
  # The admin kubeconfig plus `as:`: every request drydock makes is authorised as the ServiceAccount.
  sed 's|^\(    client-key: .*\)$|\1\n    as: system:serviceaccount:drydock-system:drydock|' "$kubeconfig" \
    > "$controller_kubeconfig"
  grep -q '^    as: ' "$controller_kubeconfig" || die "could not write $controller_kubeconfig"
}

# A re-run on a cluster that is still up starts from a clean slate: what an earlier demo left is removed.
clear_previous_demo() {
  local nm
  for nm in $(kubectl get nm -l "$demo_label" -o name 2>/dev/null); do
    say "Removing $nm left by an earlier demo"
    # Its controller is gone; the node it held is deleted below, so its finalizer has nothing left to guard.
    kubectl patch "$nm" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
    kubectl delete "$nm" --wait=true >/dev/null
  done
  if kubectl get namespace "$ns" >/dev/null 2>&1; then
    say "Removing namespace $ns left by an earlier demo"
    kubectl delete namespace "$ns" --wait=true --timeout=120s
  fi
  kubectl delete node -l "$demo_label" --wait=true --ignore-not-found
}

make_nodes() {
  say "Creating kwok nodes ${nodes[*]} (kwok acts as their kubelet: pods become Ready, nothing is pulled)"
  local n
  for n in "${nodes[@]}"; do
    kubectl apply -f - <<NODE
apiVersion: v1
kind: Node
metadata:
  name: $n
  labels: {kubernetes.io/hostname: $n, type: kwok, $demo_label: "true"}
  annotations: {kwok.x-k8s.io/node: fake}
status:
  allocatable: {cpu: "32", memory: 128Gi, pods: "110"}
  capacity: {cpu: "32", memory: 128Gi, pods: "110"}
NODE
  done
  for n in "${nodes[@]}"; do
    kubectl wait --for=condition=Ready --timeout=60s "node/$n"
  done
}

make_workloads() {
  say "Creating namespace $ns: Deployment web (6 replicas), PDB web (minAvailable 4), DaemonSet log-agent, StatefulSet db (3)"
  kubectl create namespace "$ns"
  kubectl label namespace "$ns" "$demo_label=true"
  # Pods need the namespace's default ServiceAccount, which the controller-manager creates.
  wait_until 30 "ServiceAccount default in $ns" kubectl -n "$ns" get serviceaccount default
  kubectl -n "$ns" apply -f - <<WORKLOADS
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {$demo_label: "true"}
      terminationGracePeriodSeconds: 5   # kwok removes a deleted pod when its grace period ends
      containers: [{name: web, image: registry.invalid/web:1}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 4
  selector: {matchLabels: {app: web}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: log-agent}
spec:
  selector: {matchLabels: {app: log-agent}}
  template:
    metadata: {labels: {app: log-agent}}
    spec:
      nodeSelector: {$demo_label: "true"}
      terminationGracePeriodSeconds: 5
      containers: [{name: agent, image: registry.invalid/log-agent:1}]
---
# No volumeClaimTemplates: this cluster has no storage provisioner, claims would stay Pending.
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      nodeSelector: {$demo_label: "true"}
      terminationGracePeriodSeconds: 5
      containers: [{name: db, image: registry.invalid/db:1}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: db}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: db}}
WORKLOADS

  say "Waiting for every pod to be Ready"
  kubectl -n "$ns" rollout status deployment/web --timeout=120s
  kubectl -n "$ns" rollout status daemonset/log-agent --timeout=120s
  kubectl -n "$ns" rollout status statefulset/db --timeout=120s
  kubectl -n "$ns" wait --for=jsonpath='{.status.disruptionsAllowed}'=2 --timeout=60s pdb/web
  show -n "$ns" get pdb web
  show -n "$ns" get pods -o wide
}

start_controller() {
  say "Starting drydock in the background (log: ${log#"$root"/})"
  mkdir -p "$(dirname "$log")"
  # The leader Lease lives in drydock-system, where config/rbac lets the ServiceAccount keep it.
  KUBECONFIG=$controller_kubeconfig "$drydock" run --lease-namespace drydock-system \
    --http-addr 127.0.0.1:18080 >"$log" 2>&1 &
  controller_pid=$!
  sleep 1
  kill -0 "$controller_pid" 2>/dev/null || { controller_log_tail; die "drydock exited at once"; }
}

# The node with the most web pods: the one whose drain the PDB has most to say about.
busiest_node() {
  kubectl -n "$ns" get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' |
    sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}'
}

start_maintenance() { # node nm
  say "Taking $1 out of service: NodeMaintenance $2"
  kubectl apply -f - <<NM
apiVersion: drydock.dev/v1alpha1
kind: NodeMaintenance
metadata:
  name: $2
  labels: {$demo_label: "true"}
spec:
  nodeName: $1
  reason: "demo: kernel 6.6.30"
NM
}

phase_of() { kubectl get nm "$1" -o jsonpath='{.status.phase}'; }

watch_until_drained() { # nm
  say "Following the drain with drydock's runbook CLI (web pods move to the other nodes; the log-agent pod stays)"
  printf '\033[2m$ drydock status %s --watch --until drained\033[0m\n' "$1"
  KUBECONFIG=$kubeconfig "$drydock" status "$1" --watch --until drained --timeout "${drain_limit}s" || {
    controller_log_tail
    die "the node was not Drained (drydock status exited $?); see the log above and 'kubectl describe nm $1'"
  }
  show -n "$ns" get pods -o wide
}

# The node's cordon, taints and drydock's two annotations (an absent field prints as "-").
show_node() { # node
  printf '\033[2m$ kubectl get node %s -o jsonpath=<unschedulable, taints, drydock.dev/* annotations>\033[0m\n' "$1"
  kubectl get node "$1" -o jsonpath='{"unschedulable: "}{.spec.unschedulable}{"\ntaints: "}{range .spec.taints[*]}{.key}={.value}:{.effect}{" "}{end}{"\ndrydock.dev/held-by: "}{.metadata.annotations.drydock\.dev/held-by}{"\ndrydock.dev/prior-state: "}{.metadata.annotations.drydock\.dev/prior-state}{"\n"}' |
    sed 's/: *$/: -/; s/^/  /'
}

# Kubernetes' node lifecycle conditions drydock publishes on the node (type=status reason).
show_conditions() { # node
  printf '\033[2m$ kubectl get node %s -o jsonpath=<lifecycle conditions>\033[0m\n' "$1"
  kubectl get node "$1" -o jsonpath='{range .status.conditions[*]}{.type}={.status} ({.reason}){"\n"}{end}' |
    grep -E '^(MaintenancePlanned|MaintenanceInProgress|DrainInProgress|Drained)=' | sed 's/^/  /' || true
}

show_held() { # node nm
  say "$1 is drained, cordoned and tainted; its annotations record what drydock changed"
  show get nm "$2" -o wide
  show_node "$1"
  say "The node itself says what is happening, in Kubernetes' node lifecycle conditions"
  show_conditions "$1"
  say "Events about the maintenance"
  show get events -A --field-selector "involvedObject.name=$2"
}

end_maintenance() { # node nm
  say "Ending the maintenance: drydock end $2 --wait (drydock restores the node, then lets the object go)"
  KUBECONFIG=$kubeconfig "$drydock" end "$2" --wait --timeout 60s ||
    { controller_log_tail; die "NodeMaintenance $2 was not released within 60s (its finalizer stays until the node is restored)"; }
  # The node-lifecycle controller removes node.kubernetes.io/unschedulable a moment after the uncordon.
  wait_until 30 "$1 to be schedulable and untainted" \
    test -z "$(kubectl get node "$1" -o jsonpath='{.spec.unschedulable}{.spec.taints}')"
  say "$1 is schedulable again, without taints or drydock annotations; its lifecycle conditions are False"
  show_node "$1"
  show_conditions "$1"
}

farewell() {
  say "Done. The cluster is still up; look around with"
  cat <<EOF
  export KUBECONFIG=$kubeconfig PATH=$root/.cache/bin:\$PATH
  kubectl get nodes; kubectl -n $ns get pods -o wide; kubectl explain nodemaintenance.spec.drain
  $drydock run   # then apply config/samples/one-off.yaml with nodeName: demo-1, say
drydock's log: ${log#"$root"/}; the control plane's logs and audit log: .cache/logs/
'make cluster-down' stops everything (and checks nothing is left running).
EOF
}

main() {
  start_cluster
  build_drydock
  install_drydock
  clear_previous_demo
  make_nodes
  make_workloads
  start_controller
  local node nm
  node=$(busiest_node)
  [ -n "$node" ] || die "no web pod is on a node"
  nm=drain-$node
  start_maintenance "$node" "$nm"
  watch_until_drained "$nm"
  show_held "$node" "$nm"
  end_maintenance "$node" "$nm"
  stop_controller
  farewell
}

main "$@"
