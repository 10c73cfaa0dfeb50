# Shared by up.sh and down.sh: where things are and which loopback ports the components use.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${DRYDOCK_CLUSTER_DIR:-$root/.cache/cluster}
bin=$root/.cache/bin
# shellcheck source=versions.env
. "$root/e2e/cluster/versions.env"
# Which Kubernetes version up.sh starts: the newest unless K8S_VERSION names the other one in versions.env.
K8S_VERSION=${K8S_VERSION:-$K8S_NEWEST}
bin_cache=${DRYDOCK_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drydock/bin}
logs=$root/.cache/logs
kubeconfig=$root/.cache/kubeconfig
ETCD_PORT=${ETCD_PORT:-23790}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-23800}
APISERVER_PORT=${APISERVER_PORT:-16443}
KCM_PORT=${KCM_PORT:-16257}
SCHEDULER_PORT=${SCHEDULER_PORT:-16259}
KWOK_PORT=${KWOK_PORT:-16280}
ports="$ETCD_PORT $ETCD_PEER_PORT $APISERVER_PORT $KCM_PORT $SCHEDULER_PORT $KWOK_PORT"
components="kwok kube-scheduler kube-controller-manager kube-apiserver etcd"

# Prints the PIDs of processes listening on any of our ports.
listeners() {
  local p
  for p in $ports; do ss -Hltnp "sport = :$p" 2>/dev/null | grep -o "pid=[0-9]*" | cut -d= -f2 || true; done | sort -u
}
