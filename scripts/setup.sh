#!/usr/bin/env bash
# Shared set-up for the quick-start commands: installs the Debian packages the
# build needs (only those missing), then configures and builds one build tree.
#   usage: source scripts/setup.sh; tm_setup_packages; tm_build DIR [cmake args...]
set -euo pipefail

TM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TM_PACKAGES=(cmake make gcc libopenblas-dev libcjson-dev libcriterion-dev libmujoco-dev libzmq3-dev)

tm_setup_packages() {
  local missing=()
  for p in "${TM_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

tm_build() {
  local dir=$1; shift
  echo "==> configuring $dir $*"
  cmake -S "$TM_ROOT" -B "$TM_ROOT/$dir" -DTM_WERROR=ON "$@" >"$TM_ROOT/$dir.configure.log" 2>&1 || {
    cat "$TM_ROOT/$dir.configure.log"; return 1; }
  grep 'transmamba:' "$TM_ROOT/$dir.configure.log" || true
  echo "==> building $dir"
  cmake --build "$TM_ROOT/$dir" -j"$(nproc)"
}
