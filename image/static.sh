#!/usr/bin/env bash
# Builds drydock as a static binary (x86_64-unknown-linux-musl, release) for the image and the krew archive, and
# prints its path. Source paths are remapped so the binary does not name this checkout or this machine's cargo
# home: the same sources and toolchain give the same bytes in another clone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
musl=x86_64-unknown-linux-musl
missing=()
# ring compiles C for the musl target; cc-rs looks for musl-gcc.
command -v musl-gcc >/dev/null || missing+=("musl-gcc (apt-get install -y musl-tools)")
rustup target list --installed 2>/dev/null | grep -qx $musl || missing+=("the Rust target (rustup target add $musl)")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'static build: missing %s\n' "${missing[@]}" >&2
  echo "static build: .ci/run installs them; then run the make target again" >&2
  exit 1
fi
target=${CARGO_TARGET_DIR:-target}
[[ $target == /* ]] || target=$root/$target
cargo_home=${CARGO_HOME:-$HOME/.cargo}
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="--remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$root=/src --remap-path-prefix=$target=/target"
cargo build --release --locked --target $musl --bin drydock >&2
echo "$target/$musl/release/drydock"
