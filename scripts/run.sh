#!/usr/bin/env bash
# Quick start, command 1: set up, build, and run the main job.
# Until an agent can be trained, the main job is the sanity checks and the
# task bench: `transmamba sanity`, then the full `transmamba bench tasks`
# table (about 9 minutes on 2 cores; progress lines on stderr, results
# appended to bench-tasks.jsonl in the project root).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
tm_setup_packages
tm_build build -DCMAKE_BUILD_TYPE=Release
"$TM_ROOT/build/transmamba" info
"$TM_ROOT/build/transmamba" sanity
echo "==> task bench: every synthetic memory task x controller (transmamba bench tasks --help for options)"
"$TM_ROOT/build/transmamba" bench tasks --task all --controller all --results "$TM_ROOT/bench-tasks.jsonl"
