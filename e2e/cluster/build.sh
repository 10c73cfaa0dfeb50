#!/usr/bin/env bash
# Builds the pinned control-plane binaries with `go build` through the Go module proxy, into a cache outside the
# checkout keyed by version (so fresh clones on the same machine reuse them): etcd, kwok, and kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl for every Kubernetes version in versions.env (or only those
# named: build.sh v1.37.2). A binary already in the cache is not rebuilt. up.sh links the version it runs into
# .cache/bin.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
export GOFLAGS=-mod=readonly CGO_ENABLED=0
cache=${DRYDOCK_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drydock/bin}

build() { # dir name package [ldflags]
  local out=$1/$2
  if [ -x "$out" ]; then return; fi
  echo "building $2 ($3, $GOTOOLCHAIN)" >&2
  local start=$SECONDS
  mkdir -p "$1"
  go build -trimpath -ldflags "-s -w ${4:-}" -o "$out.tmp" "$3"
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

export GOTOOLCHAIN=$K8S_OLDEST_GO
(cd "$here/etcd" && build "$cache/etcd-$ETCD_VERSION" etcd go.etcd.io/etcd/server/v3 \
  "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION")
if [ ! -x "$cache/kwok-$KWOK_VERSION/kwok" ]; then
  echo "building kwok ($KWOK_VERSION)" >&2
  GOFLAGS= GOBIN="$cache/kwok-$KWOK_VERSION" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=("$K8S_OLDEST" "$K8S_NEWEST")
for v in "${versions[@]}"; do
  case $v in
    "$K8S_OLDEST") build_k8s "$v" "$K8S_OLDEST_GO" ;;
    "$K8S_NEWEST") build_k8s "$v" "$K8S_NEWEST_GO" ;;
    *) echo "build: $v is not in versions.env (K8S_OLDEST=$K8S_OLDEST, K8S_NEWEST=$K8S_NEWEST)" >&2; exit 2 ;;
  esac
done
echo "control-plane binaries ready in $cache" >&2
