#!/bin/sh
# run.sh - builds the libFuzzer targets of tests/fuzz and runs them.
#
#   tests/fuzz/run.sh [SECONDS]   each target for SECONDS (default 60)
#   tests/fuzz/run.sh --ci        CI, bounded in time: replay the committed
#                                 corpus, then a bounded run per target with
#                                 a fixed -seed and -runs
#
# Targets are built with clang -fsanitize=fuzzer,address,undefined (UB
# aborts, leaks are reported) into build-fuzz/.  New inputs a run finds go
# to build-fuzz/corpus/TARGET, never into the committed seeds; a crash,
# leak, UB report or timeout leaves its input in build-fuzz/artifacts/ and
# fails the run.  One line per target: "fuzz TARGET: N execs in S s ...".
set -u
REPO=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd -P) || exit 1
cd "$REPO" || exit 1

CC=${FUZZ_CC:-clang-14}
OUT=build-fuzz
TARGETS="fuzz_body fuzz_config fuzz_http fuzz_validate"
LIBSRC="core/problems core/precondition core/json core/config core/dbhosts core/random core/log core/mem core/deadline domain/validate domain/tzdb domain/client domain/patch http/http db/dberr"
# CI: executions per target (a fixed seed makes each run repeatable);
# read through eval below.
# shellcheck disable=SC2034
CI_RUNS_fuzz_body=200000
# shellcheck disable=SC2034
CI_RUNS_fuzz_config=150000
# shellcheck disable=SC2034
CI_RUNS_fuzz_http=300000
# shellcheck disable=SC2034
CI_RUNS_fuzz_validate=300000

ci=0
secs=60
case ${1:-} in
--ci)	ci=1 ;;
'')	;;
*[!0-9]*|0) echo "usage: tests/fuzz/run.sh [SECONDS | --ci]" >&2; exit 2 ;;
*)	secs=$1 ;;
esac

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "fuzz: $CC not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
	exit 1
fi

# shellcheck disable=SC2046 # flag lists
build()
{
	mkdir -p "$OUT/obj" "$OUT/artifacts" "$OUT/gen" || return 1
	# The configured paths a ./configure build gets from gen/cm_paths.h
	# (packaging.am); the targets open none of them.
	cat >"$OUT/gen/cm_paths.h.new" <<-'EOF'
	/* Written by tests/fuzz/run.sh: the paths of a Debian build. */
	#define CM_CONFIG_PATH "/etc/clientsd/clientsd.conf"
	#define CM_MIGRATE_CONFIG_PATH "/etc/clientsd/clientsctl-migrate.conf"
	#define CM_RUNSTATEDIR "/run"
	#define CM_MIGRATIONSDIR "/usr/share/clientsd/migrations"
	#define CM_TZDATA "/usr/share/zoneinfo/tzdata.zi"
	EOF
	if cmp -s "$OUT/gen/cm_paths.h.new" "$OUT/gen/cm_paths.h"; then
		rm -f "$OUT/gen/cm_paths.h.new"
	else
		mv -f "$OUT/gen/cm_paths.h.new" "$OUT/gen/cm_paths.h" || return 1
	fi
	san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
	# The quotes are part of the macros' values.
	# shellcheck disable=SC2089,SC2090
	flags="-g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -I$OUT/gen
	    -Ilib/core -Ilib/http -Ilib/domain -Ilib/db
	    $(pkg-config --cflags jansson libcrypto)"
	objs=
	for m in $LIBSRC; do
		o=$OUT/obj/$(echo "$m" | tr / _).o
		# shellcheck disable=SC3013 # dash and bash have -nt
		if [ ! -f "$o" ] || [ "lib/$m.c" -nt "$o" ] ||
		    [ -n "$(find lib -name '*.h' -newer "$o")" ]; then
			# shellcheck disable=SC2086,SC2090
			$CC $flags $san -fsanitize=fuzzer-no-link -c "lib/$m.c" \
			    -o "$o" || return 1
		fi
		objs="$objs $o"
	done
	for t in $TARGETS; do
		# shellcheck disable=SC2086,SC2090
		$CC $flags $san -fsanitize=fuzzer "tests/fuzz/$t.c" $objs \
		    $(pkg-config --libs jansson libcrypto) -lm -o "$OUT/$t" ||
		    return 1
	done
}

# execs LOG: the number of inputs run, from libFuzzer's final stats.
execs()
{
	sed -n 's/^stat::number_of_executed_units: *//p' "$1" | tail -n 1
}

build || { echo "fuzz: build failed" >&2; exit 1; }
failed=0
for t in $TARGETS; do
	seeds=tests/fuzz/corpus/$t
	log=$OUT/$t.log
	art=$OUT/artifacts/$t-
	opts="-dict=tests/fuzz/$t.dict -artifact_prefix=$art -timeout=10
	    -rss_limit_mb=2048 -max_len=70000 -print_final_stats=1"
	# Replay: every committed seed once, as a regression test.
	# shellcheck disable=SC2086
	if ! "$OUT/$t" $opts "$seeds"/* >"$log" 2>&1; then
		echo "fuzz $t: FAIL replaying $seeds (see $log)"
		grep -E 'ERROR:|runtime error:|Test unit written' "$log" | head -n 5
		failed=$((failed + 1))
		continue
	fi
	mkdir -p "$OUT/corpus/$t"
	if [ $ci = 1 ]; then
		runs=
		eval "runs=\$CI_RUNS_$t"
		bound="-seed=1 -runs=$runs"
	else
		bound="-max_total_time=$secs"
	fi
	start=$(date +%s)
	# shellcheck disable=SC2086
	"$OUT/$t" $opts $bound "$OUT/corpus/$t" "$seeds" >"$log" 2>&1
	rc=$?
	took=$(($(date +%s) - start))
	n=$(execs "$log")
	if [ $rc -eq 0 ]; then
		echo "fuzz $t: ${n:-?} execs in ${took} s ($bound): ok"
	else
		echo "fuzz $t: ${n:-?} execs in ${took} s ($bound): FAIL (exit $rc, see $log)"
		grep -E 'ERROR:|runtime error:|Test unit written' "$log" | head -n 5
		failed=$((failed + 1))
	fi
done
echo "fuzz: $(echo "$TARGETS" | wc -w) targets, $failed failed"
[ $failed -eq 0 ]
