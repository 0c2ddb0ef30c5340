#!/bin/sh
# Self-check of the C baselines (run by `make check`): small runs succeed and print one JSON
# line per run; an injected wrong event, a watchdog timeout and SIGTERM each exit non-zero; and
# no run leaves its shared-memory object behind.
set -u
build=${1:-build}
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
leftover() { [ -e "/dev/shm/$1" ]; }

expect() { # expect NAME WANT_RC SHM_NAME -- command...
	name=$1 want=$2 shm=$3; shift 4
	out=$("$@" 2>/tmp/bl-check-err.$$); rc=$?
	if [ "$want" = 0 ] && [ "$rc" != 0 ]; then fail "$name: exit $rc: $(cat /tmp/bl-check-err.$$)"
	elif [ "$want" != 0 ] && [ "$rc" = 0 ]; then fail "$name: exit 0, want non-zero"
	elif leftover "$shm"; then fail "$name: left /dev/shm/$shm"
	else pass "$name (exit $rc)"; fi
	rm -f /tmp/bl-check-err.$$
	LAST_OUT=$out
}

expect "shmring small" 0 rw-bl-check-1 -- "$build/shmring" --events 200000 --runs 2 --name /rw-bl-check-1
[ "$(printf '%s\n' "$LAST_OUT" | grep -c '^{"baseline":"c-shmring",')" = 2 ] && pass "shmring prints 2 lines" || fail "shmring output: $LAST_OUT"
expect "shmring fill, odd size, batch 1" 0 rw-bl-check-2 -- "$build/shmring" --events 100000 --event-size 24 --capacity 8 --batch 1 --fill --name /rw-bl-check-2
expect "pingpong small" 0 rw-bl-check-3 -- "$build/pingpong" --samples 20000 --warmup 1000 --runs 2 --name /rw-bl-check-3
[ "$(printf '%s\n' "$LAST_OUT" | grep -c '^{"baseline":"c-pingpong",')" = 2 ] && pass "pingpong prints 2 lines" || fail "pingpong output: $LAST_OUT"
expect "shmring bad flag" 64 rw-bl-check-4 -- "$build/shmring" --capacity 1000 --name /rw-bl-check-4
expect "shmring injected fault" 1 rw-bl-check-5 -- "$build/fault/shmring" --events 2000000 --name /rw-bl-check-5
expect "pingpong injected fault" 1 rw-bl-check-6 -- "$build/fault/pingpong" --samples 20000 --warmup 1000 --name /rw-bl-check-6
expect "shmring watchdog" 2 rw-bl-check-7 -- "$build/shmring" --events 4_000_000_000 --timeout 1 --name /rw-bl-check-7

expect "uds seqpacket small" 0 rw-bl-check-9 -- "$build/uds" --mode seqpacket --events 50000 --runs 2
[ "$(printf '%s\n' "$LAST_OUT" | grep -c '^{"baseline":"c-uds-seqpacket",')" = 2 ] && pass "uds seqpacket prints 2 lines" || fail "uds output: $LAST_OUT"
expect "uds stream small, odd batch" 0 rw-bl-check-9 -- "$build/uds" --mode stream --events 50001 --batch 7
expect "uds bad mode" 64 rw-bl-check-9 -- "$build/uds" --mode dgram
expect "uds seqpacket injected fault" 1 rw-bl-check-9 -- "$build/fault/uds" --mode seqpacket --events 50000
expect "uds stream injected fault" 1 rw-bl-check-9 -- "$build/fault/uds" --mode stream --events 50000

"$build/shmring" --events 4_000_000_000 --name /rw-bl-check-8 >/dev/null 2>&1 &
pid=$!
sleep 0.5
kill -TERM "$pid"
wait "$pid"; rc=$?
sleep 0.2
if [ "$rc" = 0 ]; then fail "shmring SIGTERM: exit 0"
elif leftover rw-bl-check-8; then fail "shmring SIGTERM: left /dev/shm/rw-bl-check-8"
else pass "shmring SIGTERM (exit $rc)"; fi

echo "$(( 16 - fails )) passed, $fails failed"
[ "$fails" = 0 ]
