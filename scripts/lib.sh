# Shared settings for the scripts; sourced, not run.
# Every tool the project needs is installed under .tools/ (ignored by git), keyed by version,
# so a change of version installs the new one and never uses a stale one. A new checkout's
# .tools/ links to the user's cache, so the tools cargo builds (minutes each) are built once
# per machine, not once per clone.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS="$ROOT/.tools"
TOOL_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/instagram-pipeline/tools"
STATE="$ROOT/.state"
WORKERS=(api publish-consumer image-consumer)

WORKER_BUILD_VERSION=0.8.7
# The wasm-bindgen CLI must match the library in Cargo.lock exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$ROOT/Cargo.lock")

export WORKER_BUILD="$TOOLS/worker-build-$WORKER_BUILD_VERSION/bin/worker-build"
export WASM_BINDGEN_BIN="$TOOLS/wasm-bindgen-cli-$WASM_BINDGEN_VERSION/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
export WRANGLER="$ROOT/node_modules/.bin/wrangler"
export WRANGLER_SEND_METRICS=false
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==> %s\n' "$*"; }
