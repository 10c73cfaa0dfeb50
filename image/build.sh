#!/usr/bin/env bash
# `make image`: drydock's OCI image, built on this machine without pulling anything. The static binary
# (image/static.sh) and Debian's CA bundle go into a context directory, buildah builds image/Containerfile
# FROM scratch (vfs storage, chroot isolation: no daemon, no user namespaces), and the image is saved as an OCI
# archive, $CARGO_TARGET_DIR/image/drydock.oci.tar (else target/image/), tagged drydock:dev. The e2e test
# e2e/tests/image.rs unpacks that archive and runs the binary from it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
certs=/etc/ssl/certs/ca-certificates.crt
missing=()
command -v buildah >/dev/null || missing+=("buildah (apt-get install -y buildah)")
[ -r $certs ] || missing+=("$certs (apt-get install -y ca-certificates)")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'make image: missing %s\n' "${missing[@]}" >&2
  echo "make image: .ci/run installs them; then run make image again" >&2
  exit 1
fi
bin=$(image/static.sh)
# Beside the binary, in the target directory static.sh resolved: <target>/x86_64-unknown-linux-musl/release/drydock.
out=${bin%/*/release/drydock}/image

# Only what the Containerfile copies: the context is the image's whole content.
rm -rf "$out/context"
mkdir -p "$out/context"
install -m 0755 "$bin" "$out/context/drydock"
install -m 0644 $certs "$out/context/ca-certificates.crt"

# Storage of its own under the target directory: nothing shared with other buildah users of the machine.
storage=(--root "$out/storage" --runroot "$out/run" --storage-driver vfs)
# --timestamp 0: the same binary and bundle give the same image digest, whenever built.
buildah "${storage[@]}" build --quiet --isolation chroot --pull=never --timestamp 0 \
  -f image/Containerfile -t drydock:dev "$out/context" >/dev/null
rm -f "$out/drydock.oci.tar"
buildah "${storage[@]}" push --quiet drydock:dev "oci-archive:$out/drydock.oci.tar:drydock:dev"
echo "image drydock:dev: $out/drydock.oci.tar ($(du -h "$out/drydock.oci.tar" | cut -f1); the binary $(du -h "$bin" | cut -f1))"
buildah "${storage[@]}" inspect --type image --format \
  'user {{.OCIv1.Config.User}}, entrypoint {{.OCIv1.Config.Entrypoint}}, cmd {{.OCIv1.Config.Cmd}}' drydock:dev
