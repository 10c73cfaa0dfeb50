#!/usr/bin/env bash
# Builds the pinned control-plane binaries with `go build` through the Go module proxy, into a cache outside the
# checkout keyed by version (so fresh clones on the same machine reuse them), and links them into .cache/bin.
# A binary already in the cache is not rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
export GOTOOLCHAIN=$GO_TOOLCHAIN GOFLAGS=-mod=readonly CGO_ENABLED=0
cache=${DRYDOCK_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drydock/bin}
k8s_dir=$cache/kubernetes-$K8S_VERSION
etcd_dir=$cache/etcd-$ETCD_VERSION
kwok_dir=$cache/kwok-$KWOK_VERSION
mkdir -p "$k8s_dir" "$etcd_dir" "$kwok_dir" "$root/.cache/bin"

# The same stamping upstream's hack/lib/version.sh does, so --version and kubectl's skew checks see a real version.
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build() { # dir name package [ldflags]
  local out=$1/$2
  if [ -x "$out" ]; then return; fi
  echo "building $2 ($3)" >&2
  local start=$SECONDS
  go build -trimpath -ldflags "-s -w ${4:-}" -o "$out.tmp" "$3"
  mv "$out.tmp" "$out"
  echo "built $2 in $((SECONDS - start))s" >&2
}

(cd "$here/etcd" && build "$etcd_dir" etcd go.etcd.io/etcd/server/v3 \
  "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION")
(cd "$here/k8s" && for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build "$k8s_dir" "$c" "k8s.io/kubernetes/cmd/$c" "$stamp"
done)
if [ ! -x "$kwok_dir/kwok" ]; then
  echo "building kwok ($KWOK_VERSION)" >&2
  GOFLAGS= GOBIN="$kwok_dir" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi

for b in "$etcd_dir/etcd" "$k8s_dir"/* "$kwok_dir/kwok"; do ln -sfn "$b" "$root/.cache/bin/$(basename "$b")"; done
echo "control-plane binaries ready in $root/.cache/bin" >&2
