#!/bin/sh
# make demo: coffer's main job on the bundled example project.
set -eu
BUILD=${1:-build}
echo "coffer $($BUILD/coffer --version 2>/dev/null || true)"
