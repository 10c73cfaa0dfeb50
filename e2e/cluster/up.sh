#!/usr/bin/env bash
# Starts a real control plane on 127.0.0.1: etcd, kube-apiserver (RBAC on), kube-controller-manager,
# kube-scheduler and kwok (simulated kubelets for nodes annotated kwok.x-k8s.io/node=fake).
# Writes the admin kubeconfig to .cache/kubeconfig and returns once the cluster is ready to use.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ -f "$work/kube-apiserver.pid" ] && kill -0 "$(cat "$work/kube-apiserver.pid")" 2>/dev/null; then
  running=$(cat "$work/kubernetes-version" 2>/dev/null || echo unknown)
  if [ "$running" != "$K8S_VERSION" ]; then
    echo "cluster-up: a cluster of Kubernetes $running is up, $K8S_VERSION was asked for: run 'make cluster-down' first" >&2
    exit 1
  fi
  echo "cluster already up (kubeconfig: $kubeconfig)"; exit 0
fi
case $K8S_VERSION in
  "$K8S_OLDEST"|"$K8S_NEWEST") ;;
  *) echo "cluster-up: K8S_VERSION=$K8S_VERSION is not in versions.env ($K8S_OLDEST, $K8S_NEWEST)" >&2; exit 2 ;;
esac
"$here/down.sh" >/dev/null 2>&1 || true
busy=$(listeners)
if [ -n "$busy" ]; then
  echo "cluster-up: a port of $ports is taken by another process ($(ps -o comm= -p "${busy//$'\n'/,}" | tr '\n' ' '));" \
       "stop it or choose other ports (ETCD_PORT, APISERVER_PORT, ...)" >&2
  exit 1
fi
# .cache/bin holds the binaries of the version that runs, kubectl included (tests and the demo use it), and the
# Prometheus the e2e tests start (e2e/src/prometheus.rs).
mkdir -p "$bin"
for b in "$bin_cache/etcd-$ETCD_VERSION/etcd" "$bin_cache/kwok-$KWOK_VERSION/kwok" \
         "$bin_cache/kubernetes-$K8S_VERSION"/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl} \
         "$bin_cache/prometheus-$PROMETHEUS_VERSION"/{prometheus,promtool}; do
  [ -x "$b" ] || { echo "cluster-up: $b is missing: run 'make cluster-build' first" >&2; exit 1; }
  ln -sfn "$b" "$bin/$(basename "$b")"
done

# The audit log and its rotated backups (audit-<time>.log) belong to the cluster they came from.
rm -rf "$work" "$logs"/audit.log "$logs"/audit-*.log && mkdir -p "$work/pki" "$logs"
echo "$K8S_VERSION" > "$work/kubernetes-version"
# From 1.37 on: the node lifecycle conditions and the EvictionRequest API (lifecycle.k8s.io/v1alpha1), both alpha.
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
gates=() apis=()
if [ "$minor" -ge 37 ]; then
  gates=(--feature-gates NodeLifecycleConditions=true,EvictionRequestAPI=true)
  apis=(--runtime-config lifecycle.k8s.io/v1alpha1=true)
fi
pki=$work/pki
ssl() { openssl "$@" 2>>"$logs/openssl.log"; }

# A throwaway CA, a serving certificate for 127.0.0.1, an admin client certificate (group system:masters)
# and the service-account signing key. Nothing here outlives `make cluster-down`.
ssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=drydock-test-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt"
ssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' \
  > "$pki/apiserver.ext"
ssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
  -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt"
ssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=drydock-admin" -keyout "$pki/admin.key" -out "$pki/admin.csr"
printf 'extendedKeyUsage=clientAuth\n' > "$pki/client.ext"
ssl x509 -req -in "$pki/admin.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
  -extfile "$pki/client.ext" -out "$pki/admin.crt"
ssl genrsa -out "$pki/sa.key" 2048
ssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

server=https://127.0.0.1:$APISERVER_PORT
cat > "$kubeconfig.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: drydock-test
  cluster:
    server: $server
    certificate-authority: $pki/ca.crt
users:
- name: drydock-admin
  user:
    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key
contexts:
- name: drydock-test
  context: {cluster: drydock-test, user: drydock-admin}
current-context: drydock-test
KUBECONFIG
mv "$kubeconfig.tmp" "$kubeconfig"

start() { # name args... (the arguments are kept in <name>.args so restart.sh can start it again the same way)
  local name=$1; shift
  printf '%q ' "$@" > "$work/$name.args"
  "$bin/$name" "$@" >"$logs/$name.log" 2>&1 &
  echo $! > "$work/$name.pid"
}
fail() { # component message
  echo "cluster-up: $1 did not come up: $2. Last lines of $logs/$1.log:" >&2
  tail -n 25 "$logs/$1.log" >&2 || true
  "$here/down.sh" >/dev/null 2>&1 || true
  exit 1
}
wait_for() { # component seconds command...
  local c=$1 t=$2; shift 2
  for _ in $(seq $((t * 5))); do
    kill -0 "$(cat "$work/$c.pid")" 2>/dev/null || fail "$c" "the process exited"
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  fail "$c" "not ready after ${t}s"
}
kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
curl_api() { curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$server$1"; }

start etcd --name drydock-test --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "drydock-test=http://127.0.0.1:$ETCD_PEER_PORT" \
  --listen-metrics-urls "" --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn
wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

# The audit policy records who did what to pods, evictions and nodes; e2e/src/audit.rs checks drydock's safety
# promises against it after every test. Node writes carry the node as written (taints and cordon before and
# after), pod deletes the pod as it was (terminal or not), pod creates (with the name the server gave) and
# bindings the node a pod went to; deletecollection of pods and nodes is logged too (drydock must never send one).
# drydock's writes of node status (its lifecycle conditions) are logged with the request and the node after it;
# only its own (ServiceAccounts of drydock-system): kwok's heartbeats would swamp the log.
# Each test environment checks at its start, by dry runs, that node bodies and deletecollections are still logged
# (e2e/src/lib.rs).
# Every request of ServiceAccounts in drydock-bench is logged too: the benchmark counts requests per client.
cat > "$work/audit-policy.yaml" <<POLICY
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts:drydock-bench"]
- level: RequestResponse
  resources: [{group: "", resources: [nodes]}]
  verbs: [create, update, patch, delete, deletecollection]
- level: RequestResponse
  userGroups: ["system:serviceaccounts:drydock-system"]
  resources: [{group: "", resources: [nodes/status]}]
  verbs: [update, patch]
- level: RequestResponse
  resources: [{group: "", resources: [pods]}]
  verbs: [delete, deletecollection]
- level: RequestResponse
  resources: [{group: "", resources: [pods]}]
  verbs: [create]
- level: Request
  resources: [{group: "", resources: [pods/binding]}]
  verbs: [create]
- level: Metadata
  resources: [{group: "", resources: [pods, pods/eviction]}]
  verbs: [create, update, patch]
- level: None
POLICY

# No endpoint reconciler: nothing runs in the cluster that needs the kubernetes Service, and from 1.37 on the
# API server refuses a loopback advertise address with one.
# Past 2000 MB the log is renamed to audit-<time>.log and a new one begun; every backup is kept (maxbackup and
# maxage 0), and the checks read across the rotation.
start kube-apiserver --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" --client-ca-file "$pki/ca.crt" \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$pki/sa.pub" \
  --service-account-signing-key-file "$pki/sa.key" --authorization-mode RBAC \
  --service-cluster-ip-range 10.96.0.0/16 --allow-privileged --endpoint-reconciler-type none \
  --audit-policy-file "$work/audit-policy.yaml" --audit-log-path "$logs/audit.log" --audit-log-maxsize 2000 \
  --audit-log-maxbackup 0 --audit-log-maxage 0 \
  --profiling=false --cert-dir "$work/apiserver-certs" "${gates[@]}" "${apis[@]}"
wait_for kube-apiserver 90 curl_api /readyz

common=(--kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig"
        --leader-elect=false --bind-address 127.0.0.1 --profiling=false)
# The controllers drydock relies on: PDB status (disruption), replacement pods (replicaset, deployment,
# daemonset, statefulset, job), cleanup (garbage collector, namespace, pod GC), service accounts, and node health
# (node-lifecycle adds node.kubernetes.io/unschedulable on cordon; taint-eviction acts on NoExecute), and the binding
# of claims to PersistentVolumes (pods on local volumes).
# A higher client QPS than the default 20 so replacement pods are not throttled in benchmarks.
start kube-controller-manager "${common[@]}" "${gates[@]}" --secure-port "$KCM_PORT" \
  --root-ca-file "$pki/ca.crt" --service-account-private-key-file "$pki/sa.key" \
  --use-service-account-credentials=false --kube-api-qps 200 --kube-api-burst 400 \
  --node-monitor-grace-period 60s \
  --controllers deployment-controller,replicaset-controller,daemonset-controller,statefulset-controller,job-controller,disruption-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,root-ca-certificate-publisher-controller,node-lifecycle-controller,taint-eviction-controller,pod-garbage-collector-controller,ttl-after-finished-controller,persistentvolume-binder-controller
start kube-scheduler "${common[@]}" --secure-port "$SCHEDULER_PORT" --kube-api-qps 200 --kube-api-burst 400
start kwok --kubeconfig "$kubeconfig" --config "$here/kwok.yaml" --server-address "127.0.0.1:$KWOK_PORT" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --cidr 10.244.0.0/16 --node-lease-duration-seconds 40

wait_for kube-controller-manager 60 kubectl -n default get serviceaccount default
wait_for kube-scheduler 30 curl -fsSk "https://127.0.0.1:$SCHEDULER_PORT/healthz"
wait_for kwok 30 curl -fsS "http://127.0.0.1:$KWOK_PORT/healthz"
echo "cluster up: $("$bin/kube-apiserver" --version) at $server"
echo "  export KUBECONFIG=$kubeconfig   # then kubectl get nodes; logs in $logs"
