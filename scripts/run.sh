#!/usr/bin/env bash
# Quick start, command 1: set up, build, and run the main job.
# Until an agent can be trained, the main job is `transmamba sanity`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
tm_setup_packages
tm_build build -DCMAKE_BUILD_TYPE=Release
"$TM_ROOT/build/transmamba" info
"$TM_ROOT/build/transmamba" sanity
