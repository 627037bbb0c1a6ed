#!/bin/sh
# check.sh - the layers of lib/ are a fact of the build (doc/design.md,
# "Layers"): run by `make check`, which sets CC, LAYER_LDFLAGS, LAYER_LIBS
# (the libraries the layers themselves use), srcdir and builddir.
#
# 1. Each layer's library, linked whole (every object, used or not), with
#    only the layers it may use: an upward call is an undefined symbol.
# 2. A scratch copy of core with one call upward into http fails to link
#    that way: the check can fail.
# 3. A scratch data-layer file including an HTTP header fails to compile
#    with the data layer's include path.
# One TAP line a check (automake's tap-driver.sh counts them).
set -u
lib=$builddir/lib
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
printf 'int main(void) { return 0; }\n' >"$tmp/main.c"
failed=0
n=0

# link NAME ARCHIVE BELOW...: ARCHIVE whole, then the layers below it.
link()
{
	ln_name=$1 ln_archive=$2
	shift 2
	# shellcheck disable=SC2086 # flag lists
	$CC $LAYER_LDFLAGS -o "$tmp/$ln_name" "$tmp/main.c" \
	    -Wl,--whole-archive "$ln_archive" -Wl,--no-whole-archive \
	    "$@" $LAYER_LIBS >"$tmp/$ln_name.log" 2>&1
}

ok()
{
	n=$((n + 1))
	echo "ok $n - $1"
}

fail()
{
	n=$((n + 1))
	echo "not ok $n - $1"
	sed 's/^/# /' "$2" | head -n 20
	failed=1
}

# layer NAME BELOW...: the whole layer links with those below it alone.
layer()
{
	ly_name=$1
	shift
	if link "$ly_name" "$lib/$ly_name/lib$ly_name.a" "$@"; then
		ok "lib/$ly_name links with only the layers below it"
	else
		fail "lib/$ly_name calls a layer above it" "$tmp/$ly_name.log"
	fi
}

layer core
layer http "$lib/core/libcore.a"
layer domain "$lib/core/libcore.a"
layer db "$lib/domain/libdomain.a" "$lib/core/libcore.a"
layer sandbox "$lib/core/libcore.a"

# 2. The same link of a core with a call upward must fail.
cat >"$tmp/upward.c" <<'C'
#include <stdbool.h>
#include <stddef.h>
bool cm_path_match(const char *, const char *, char *, size_t, bool *);
int cm_scratch_upward(void) { bool ok; return cm_path_match("/", "/", NULL, 0, &ok); }
C
cp "$lib/core/libcore.a" "$tmp/libcore.a"
if $CC -c -o "$tmp/upward.o" "$tmp/upward.c" 2>"$tmp/upward.log" &&
    ar r "$tmp/libcore.a" "$tmp/upward.o" 2>>"$tmp/upward.log"; then
	if link upward "$tmp/libcore.a"; then
		fail "a core calling into http linked: the check proves nothing" \
		    "$tmp/upward.log"
	elif grep -q 'cm_path_match' "$tmp/upward.log"; then
		ok "a core calling into http does not link"
	else
		fail "a core calling into http failed to link for another reason" \
		    "$tmp/upward.log"
	fi
else
	fail "the scratch upward call did not build" "$tmp/upward.log"
fi

# 3. The data layer cannot see an HTTP header.
printf '#include "http.h"\n' >"$tmp/db_includes_http.c"
if $CC -I"$builddir/gen" -I"$srcdir/lib/core" -I"$srcdir/lib/domain" \
    -I"$srcdir/lib/db" -c -o "$tmp/x.o" "$tmp/db_includes_http.c" \
    >"$tmp/include.log" 2>&1; then
	fail "a data-layer file including http.h compiled" "$tmp/include.log"
else
	ok "a data-layer file cannot include http.h"
fi
if grep -l '#include "\(http\|openapi\|routes\|call\)\.h"' \
    "$srcdir"/lib/db/*.[ch] "$srcdir"/lib/domain/*.[ch] \
    "$srcdir"/lib/core/*.[ch] >"$tmp/grep.log" 2>&1; then
	fail "a lower layer names an HTTP header" "$tmp/grep.log"
else
	ok "no lib/db, lib/domain or lib/core file includes an HTTP header"
fi
echo "1..$n"
exit "$failed"
