#!/usr/bin/env bash
# NAME
#	tests/run.sh - install, build and run tern's whole test suite
# SYNOPSIS
#	bash tests/run.sh
# DESCRIPTION
#	On a fresh Debian 12 machine, in stages, each timed:
#	  0. the include rules of the tree (tests/check-layout: tls, queue and
#	     policy use only core/base of core/, core/base nothing of tern), and
#	     the checker's self-test;
#	  1. install the packages (.ci/install-deps);
#	  2. the release build: gcc, warnings as errors, into ./build, and its
#	     unit tests (cmocka);
#	  3. the sanitizer build: clang with ASan+UBSan (reports fatal) and
#	     libFuzzer coverage, warnings as errors, into ./build-asan - one
#	     build for the fuzz targets and an instrumented ternd - and its unit
#	     tests;
#	  4. every fuzz target for FUZZ_SECONDS (5) on its committed corpus,
#	     two at a time (tests/fuzz/run): a regression input that crashes
#	     again, or any new crash, leak or UBSan report fails. libFuzzer runs
#	     every committed input before it looks at the clock, so the whole
#	     regression corpus runs whatever FUZZ_SECONDS is (under a second
#	     per target today); the seconds only buy new inputs, which the
#	     long campaigns find, not the CI: 5 (was 30, then 15) saves about
#	     80 s of the run against 15;
#	  5. the integration tests (tests/integration/: the real daemon against
#	     smtp-sink, swaks, dnsmasq, Postfix, python3 on loopback) once,
#	     against the ASan+UBSan ternd, one more at a time than there are
#	     cores (ctest -j"$((JOBS + 1))"): they wait for timers and peers
#	     much of the time (two at a time alone on 2 cores: 646 s, and 709
#	     CPU-seconds of the 1292 there were; once the appliance's qemu
#	     had ended, CI's cores were 30-90% busy); a
#	     sanitizer report in any process's output fails the test
#	     (tests/integration/lib.sh). What two tests must not share (port 25
#	     on fixed loopback addresses; the machine, for the load tests and
#	     the ones whose checks need time to pass at a sane pace) is a
#	     RESOURCE_LOCK in tests/CMakeLists.txt, ports come reserved from
#	     pick_ports, and COST starts the long tests first;
#	     test_bounds.sh runs once more in that pool against the release ternd
#	     (integration_test_bounds_release): its RSS bounds per connection are
#	     the real ones only without ASan.
#	The integration suite runs once, against the instrumented daemon, to
#	keep the run inside its time budget (18 minutes on a fresh machine);
#	the release build's daemon is what the unit tests and
#	`core/run-local.sh` use.
#	Exits non-zero when anything fails. .ci/run calls this.
#
#	Environment: BUILD_DIR (default build) and ASAN_BUILD_DIR (default
#	build-asan), BUILD_TYPE (default RelWithDebInfo), SKIP_INSTALL=1 to
#	skip the package check, FUZZ_SECONDS (default 5; 0 skips stage 4),
#	INTEGRATION_BUILD=release to run stage 5 against ./build instead,
#	TERN_SANITIZE=1 to give the release build ASan+UBSan too.
#	The package and the appliance (issue 11): after the release build,
#	firmware-image/deb/build makes tern_VERSION_amd64.deb once, into
#	build-image/deb; test_package.sh installs that one (TERN_PKG_DEB,
#	TERN_PKG_BUILD). Then firmware-image/test-all starts in the background:
#	the image from that package into ./build-image, then test-boot,
#	test-update and test-power-cut (POWER_CUTS, default 3) at once, each in
#	its own qemu (TCG). It runs beside stages 3 to 5: the guests wait for
#	their emulated disks, networks and timers much of the time, and the
#	build and fuzz stages are bounded by work or time, not by a clock. Its
#	log goes to build-image/test-all.log and is printed at the end; its
#	failure fails the run. TERN_SKIP_IMAGE=1 leaves the image out (the
#	package is still built and tested); TERN_IMAGE_DEB=PATH builds the image
#	from that .deb.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
FUZZ_SECONDS=${FUZZ_SECONDS:-5}
JOBS=$(nproc 2>/dev/null || echo 2)

rc=0
t_stage=$SECONDS
cur_stage=
times=()
# stage NAME - note how long the previous stage took, announce the next
stage() {
    [[ -z $cur_stage ]] || times+=("$((SECONDS - t_stage))s  $cur_stage")
    t_stage=$SECONDS
    cur_stage=$1
    echo "=== $1"
}

stage "layout (include rules)"
bash tests/check-layout || rc=1
bash tests/check-layout --self-test || rc=1

stage "install packages"
[[ ${SKIP_INSTALL:-0} == 1 ]] || bash .ci/install-deps

stage "release build (gcc, -Werror)"
sanitize=OFF
[[ ${TERN_SANITIZE:-0} == 1 ]] && sanitize=ON
cmake -S . -B "$BUILD_DIR" -DTERN_WERROR=ON -DTERN_SANITIZE="$sanitize" -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
cmake --build "$BUILD_DIR" -j"$JOBS"

stage "the package (firmware-image/deb/build)"
deb=$(bash firmware-image/deb/build "$BUILD_DIR" build-image/deb | tail -n 1) || deb=
if [[ -f $deb ]]; then
    export TERN_PKG_DEB=$deb TERN_PKG_BUILD=$(cd "$BUILD_DIR" && pwd)
else
    echo "=== no package built: test_package.sh builds its own, the image is not built"
    rc=1
fi
appliance_pid=
if [[ ${TERN_SKIP_IMAGE:-0} != 1 && -f ${TERN_IMAGE_DEB:-$deb} ]]; then
    echo "=== appliance image and checks 1, 2, 4: in the background, log in build-image/test-all.log"
    # its own session: an early exit of this script ends the whole group (qemu included)
    setsid bash firmware-image/test-all --deb "${TERN_IMAGE_DEB:-$deb}" --out build-image \
        >build-image/test-all.log 2>&1 &
    appliance_pid=$!
    trap '[[ -z $appliance_pid ]] || kill -- -"$appliance_pid" 2>/dev/null' EXIT
fi

stage "unit tests (release build)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -L unit -j"$JOBS" --timeout 120 || rc=1

stage "sanitizer build (clang, ASan+UBSan, libFuzzer, -Werror)"
CC=clang cmake -S . -B "$ASAN_BUILD_DIR" -DTERN_FUZZ=ON -DTERN_WERROR=ON -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
cmake --build "$ASAN_BUILD_DIR" -j"$JOBS"

stage "unit tests (sanitizer build)"
ctest --test-dir "$ASAN_BUILD_DIR" --output-on-failure -L unit -j"$JOBS" --timeout 300 || rc=1

if ((FUZZ_SECONDS > 0)); then
    stage "fuzz targets, ${FUZZ_SECONDS}s each, two at a time"
    FUZZ_BUILD=$ASAN_BUILD_DIR bash tests/fuzz/run "$FUZZ_SECONDS" || rc=1
fi

integration_dir=$ASAN_BUILD_DIR
[[ ${INTEGRATION_BUILD:-asan} == release ]] && integration_dir=$BUILD_DIR
stage "integration tests ($integration_dir)"
# memory bounds mean something only without ASan's redzones and quarantine: the sanitizer
# build's pool also runs test_bounds against the release ternd (integration_test_bounds_release)
TERN_RELEASE_BUILD=$(cd "$BUILD_DIR" && pwd) \
    ctest --test-dir "$integration_dir" --output-on-failure -L integration -j"$((JOBS + 1))" \
        --timeout 900 || rc=1

if [[ -n $appliance_pid ]]; then
    stage "appliance (waiting for firmware-image/test-all)"
    wait "$appliance_pid" || rc=1
    appliance_pid=
    cat build-image/test-all.log
fi

stage "done"
echo "=== stage times"
printf '  %s\n' "${times[@]}"
echo "  ${SECONDS}s  total"
if ((rc == 0)); then echo "=== all tests passed"; else echo "=== some tests FAILED"; fi
exit $rc
