#!/usr/bin/env bash
# NAME
#	tests/run.sh - install, build and run tern's whole test suite
# SYNOPSIS
#	bash tests/run.sh
# DESCRIPTION
#	On a fresh Debian 12 machine: installs the packages (.ci/install-deps),
#	configures with warnings as errors into ./build, builds, then runs the
#	unit tests (cmocka) and the integration tests (tests/integration/, real
#	daemon against smtp-sink, swaks, dnsmasq, python3 on loopback) with ctest.
#	Exits non-zero when anything fails. .ci/run calls this.
#
#	Environment: BUILD_DIR (default build), BUILD_TYPE (default
#	RelWithDebInfo), TERN_SANITIZE=1 for an ASan+UBSan build,
#	SKIP_INSTALL=1 to skip the package check.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
JOBS=$(nproc 2>/dev/null || echo 2)

[[ ${SKIP_INSTALL:-0} == 1 ]] || bash .ci/install-deps

sanitize=OFF
[[ ${TERN_SANITIZE:-0} == 1 ]] && sanitize=ON
cmake -S . -B "$BUILD_DIR" -DTERN_WERROR=ON -DTERN_SANITIZE="$sanitize" -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
cmake --build "$BUILD_DIR" -j"$JOBS"

rc=0
echo "=== unit tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -L unit -j"$JOBS" --timeout 120 || rc=1
echo "=== integration tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -L integration --timeout 600 || rc=1
if ((rc == 0)); then echo "=== all tests passed"; else echo "=== some tests FAILED"; fi
exit $rc
