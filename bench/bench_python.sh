#!/bin/sh
# The Python module against the original's path (toml.load + dict):
# first access in a fresh process, warm loads and lookups.
# Usage: sh bench/bench_python.sh BUILD
set -eu
BUILD=${1:-build}
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
$PY bench/bench_python.py "$BUILD"
