#!/usr/bin/env bash
# Builds the pinned binaries with `go build` through the Go module proxy, into a cache outside the checkout keyed
# by version (so fresh clones on the same machine reuse them): etcd, kwok, kube-apiserver, kube-controller-manager,
# kube-scheduler and kubectl for every Kubernetes version in versions.env, Prometheus with promtool, and helm.
# Arguments name what to build (etcd, kwok, prometheus, helm, or a Kubernetes version: build.sh v1.37.2); none = all
# of these. A binary already in the cache is not rebuilt. up.sh links the Kubernetes version it runs into
# .cache/bin; this script links prometheus, promtool and helm there (they serve every version; `make rules` and
# `make chart` need no cluster).
# `build.sh godrain` builds the bench's drainer on k8s.io/kubectl/pkg/drain (e2e/godrain/) and links it there too;
# it is not in the default list: only `make bench` needs it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
export GOFLAGS=-mod=readonly CGO_ENABLED=0
cache=${DRYDOCK_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drydock/bin}

build() { # dir name package [ldflags [tags]]
  local out=$1/$2
  if [ -x "$out" ]; then return; fi
  echo "building $2 ($3, $GOTOOLCHAIN)" >&2
  local start=$SECONDS
  mkdir -p "$1"
  go build -trimpath ${5:+-tags "$5"} -ldflags "-s -w ${4:-}" -o "$out.tmp" "$3"
  mv "$out.tmp" "$out"
  echo "built $2 in $((SECONDS - start))s" >&2
}

build_k8s() { # version go-toolchain
  local version=$1 minor stamp="" pkg
  export GOTOOLCHAIN=$2
  # The same stamping upstream's hack/lib/version.sh does, so --version and kubectl's skew checks see a real version.
  minor=${version#v1.}; minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  [ -d "$here/k8s/$version" ] || { echo "build: no helper module for $version: run 'make cluster-pin'" >&2; exit 1; }
  (cd "$here/k8s/$version" && for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    build "$cache/kubernetes-$version" "$c" "k8s.io/kubernetes/cmd/$c" "$stamp"
  done)
}

build_etcd() {
  export GOTOOLCHAIN=$K8S_OLDEST_GO
  (cd "$here/etcd" && build "$cache/etcd-$ETCD_VERSION" etcd go.etcd.io/etcd/server/v3 \
    "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION")
}

build_kwok() {
  export GOTOOLCHAIN=$K8S_OLDEST_GO
  if [ ! -x "$cache/kwok-$KWOK_VERSION/kwok" ]; then
    echo "building kwok ($KWOK_VERSION)" >&2
    GOFLAGS= GOBIN="$cache/kwok-$KWOK_VERSION" go install -trimpath \
      -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  fi
}

# Tag remove_all_sd leaves out the cloud service discoveries (AWS, Azure, GCE, Kubernetes, ...): static targets are
# all the tests use, and the build is much smaller and faster. The version is stamped as upstream's release
# builds do (.promu.yml), from the module's VERSION file, so `prometheus --version` and the API's buildinfo say it.
build_prometheus() {
  local dir=$cache/prometheus-$PROMETHEUS_VERSION module=$here/prometheus release c
  export GOTOOLCHAIN=$K8S_NEWEST_GO
  if [ ! -x "$dir/prometheus" ] || [ ! -x "$dir/promtool" ]; then
    grep -q "github.com/prometheus/prometheus $PROMETHEUS_VERSION" "$module/go.mod" 2>/dev/null ||
      { echo "build: the helper module does not pin Prometheus $PROMETHEUS_VERSION: run 'make cluster-pin'" >&2; exit 1; }
    release=$(cd "$module" && go mod download -json github.com/prometheus/prometheus |
      sed -n 's/.*"Dir": "\(.*\)",/\1/p')
    release=$(cat "$release/VERSION")
    (cd "$module" && for c in prometheus promtool; do
      build "$dir" "$c" "github.com/prometheus/prometheus/cmd/$c" \
        "-X github.com/prometheus/common/version.Version=$release" remove_all_sd
    done)
  fi
  mkdir -p "$root/.cache/bin"
  for c in prometheus promtool; do ln -sfn "$dir/$c" "$root/.cache/bin/$c"; done
}

# Keyed by the helper module's go.sum as well as the version, so a re-pinned dependency rebuilds. The version is
# stamped as upstream's release builds do (its Makefile), so `helm version` says v4.3.2, not v4.3.
build_helm() {
  local module=$here/helm dir
  export GOTOOLCHAIN=$K8S_NEWEST_GO
  grep -q "helm.sh/helm/v4 $HELM_VERSION" "$module/go.mod" 2>/dev/null ||
    { echo "build: the helper module does not pin helm $HELM_VERSION: run 'make cluster-pin WHAT=helm'" >&2; exit 1; }
  dir=$cache/helm-$HELM_VERSION-$(cat "$module/go.mod" "$module/go.sum" | sha256sum | cut -c1-12)
  (cd "$module" && build "$dir" helm helm.sh/helm/v4/cmd/helm \
    "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean")
  mkdir -p "$root/.cache/bin"
  ln -sfn "$dir/helm" "$root/.cache/bin/helm"
}

# Keyed by its sources as well as the Kubernetes version, so an edited main.go (or a re-pinned go.mod) rebuilds.
build_godrain() {
  local module=$root/e2e/godrain want="k8s.io/kubectl v0${K8S_NEWEST#v1}" dir
  export GOTOOLCHAIN=$K8S_NEWEST_GO
  grep -q "$want" "$module/go.mod" 2>/dev/null ||
    { echo "build: e2e/godrain/go.mod does not pin $want: run 'make cluster-pin WHAT=godrain'" >&2; exit 1; }
  dir=$cache/godrain-$K8S_NEWEST-$(cat "$module/main.go" "$module/go.mod" "$module/go.sum" | sha256sum | cut -c1-12)
  (cd "$module" && build "$dir" godrain drydock.dev/e2e/godrain)
  mkdir -p "$root/.cache/bin"
  ln -sfn "$dir/godrain" "$root/.cache/bin/godrain"
}

what=("$@")
[ ${#what[@]} -gt 0 ] || what=(etcd kwok "$K8S_OLDEST" "$K8S_NEWEST" prometheus helm)
for w in "${what[@]}"; do
  case $w in
    etcd) build_etcd ;;
    kwok) build_kwok ;;
    prometheus) build_prometheus ;;
    helm) build_helm ;;
    godrain) build_godrain ;;
    "$K8S_OLDEST") build_k8s "$w" "$K8S_OLDEST_GO" ;;
    "$K8S_NEWEST") build_k8s "$w" "$K8S_NEWEST_GO" ;;
    *) echo "build: $w is neither etcd, kwok, prometheus, helm, godrain nor a version in versions.env (K8S_OLDEST=$K8S_OLDEST," \
            "K8S_NEWEST=$K8S_NEWEST)" >&2; exit 2 ;;
  esac
done
echo "pinned binaries ready in $cache" >&2
