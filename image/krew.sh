#!/usr/bin/env bash
# `make krew-archive`: the archive krew installs `kubectl drydock` from on linux/amd64, and the manifest made to
# match it. The static binary (image/static.sh) goes in as kubectl-drydock (the repository has no LICENSE file to
# add), in a tar.gz made reproducibly (sorted, fixed times and owners, gzip without a name or time), so the same
# binary gives the same sha256. plugins/drydock.yaml then gets Cargo.toml's version, the release URI of that
# version and the archive's sha256, and is checked against the archive: it cannot be left stale by a release.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Where releases publish their assets: the manifest's uri is $releases/v<version>/<archive name>.
releases=${DRYDOCK_RELEASES:-https://github.com/drydock-dev/drydock/releases/download}
manifest=plugins/drydock.yaml
name=kubectl-drydock_linux_amd64.tar.gz

bin=$(image/static.sh)
# Beside the binary, in the target directory static.sh resolved: <target>/x86_64-unknown-linux-musl/release/drydock.
out=${bin%/*/release/drydock}/krew
rm -rf "$out/stage"
mkdir -p "$out/stage"
install -m 0755 "$bin" "$out/stage/kubectl-drydock"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$out/stage" -cf - kubectl-drydock \
  | gzip -9n > "$out/$name"
sum=$(sha256sum "$out/$name" | cut -d' ' -f1)
version=$(cargo pkgid -p drydock | sed 's/.*[#@]//')

sed -i -E \
  -e "s|^(  version: ).*|\1v$version|" \
  -e "s|^(    uri: ).*|\1$releases/v$version/$name|" \
  -e "s|^(    sha256: ).*|\1$sum|" \
  "$manifest"
grep -qx "    sha256: $sum" "$manifest" && grep -qx "  version: v$version" "$manifest" \
  || { echo "make krew-archive: $manifest was not updated: it must keep one platform with 4-space uri/sha256 lines" >&2; exit 1; }
echo "$out/$name (sha256 $sum, $(du -h "$out/$name" | cut -f1)); $manifest: v$version"
