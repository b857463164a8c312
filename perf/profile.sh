#!/usr/bin/env bash
# perf/profile.sh: profile a standalone broker under `gannet bench` load.
#
#   perf/profile.sh                   # cpu profile, 200000 x 1 KiB from 8 producers
#   MESSAGES=1000000 perf/profile.sh
#   PROFILE=alloc FLUSH=sync perf/profile.sh
#
# It builds bin/gannet, starts `gannet standalone --profile $PROFILE
# --profile-dir $OUT` on free loopback ports with its data in a temporary
# directory, runs `gannet bench -n NAMESRV --mode produce` against it,
# saves /metrics, stops the broker with SIGINT (the profile is written on
# that clean shutdown) and writes `go tool pprof -top` to $OUT/top.txt and
# the call graph to $OUT/$PROFILE.svg (needs graphviz's dot).
#
# Environment (defaults): PROFILE (cpu: cpu, mem, alloc, mutex, block,
# goroutine or trace), MESSAGES (200000), SIZE (1024), PRODUCERS (8),
# FLUSH (async), OUT (perf/out), LOAD_TIMEOUT seconds (180), GO (go).
# Every wait is bounded: start 30 s, load LOAD_TIMEOUT, shutdown 60 s.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
PROFILE=${PROFILE:-cpu}
MESSAGES=${MESSAGES:-200000}
SIZE=${SIZE:-1024}
PRODUCERS=${PRODUCERS:-8}
FLUSH=${FLUSH:-async}
OUT=${OUT:-perf/out}
LOAD_TIMEOUT=${LOAD_TIMEOUT:-180}
BIN=bin/gannet

say() { echo "profile.sh: $*" >&2; }
die() { say "$*"; exit 1; }

case $PROFILE in
cpu | mutex | block | goroutine) PROF_FILE=$PROFILE.pprof ;;
mem | alloc) PROF_FILE=mem.pprof ;;
trace) PROF_FILE=trace.out ;;
*) die "PROFILE=$PROFILE: want cpu, mem, alloc, mutex, block, goroutine or trace" ;;
esac

have_dot=1
if ! command -v dot >/dev/null 2>&1; then
	have_dot=0
	say "graphviz's dot is not installed: the SVG call graph will be skipped (apt-get install graphviz)"
fi

say "building $BIN"
mkdir -p "$(dirname "$BIN")" "$OUT"
"$GO" build -o "$BIN" ./cmd/gannet

# The bench command may not exist in this checkout yet. Its --help may exit
# 0 or 2 (flag.ErrHelp), so look at what it says, not at its status.
help=$("$BIN" bench --help 2>&1 || true)
if grep -q 'unknown command' <<<"$help" || ! grep -q -- '-mode' <<<"$help"; then
	die "$BIN has no usable 'bench' command yet ('gannet bench --help' lists no --mode), so there is no load to profile; build a checkout that has cmd/gannet/bench.go"
fi

# free_port prints a TCP port nothing listens on now.
free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}
NS_PORT=$(free_port)
BROKER_PORT=$(free_port)
HTTP_PORT=$(free_port)
NS=127.0.0.1:$NS_PORT
HTTP=127.0.0.1:$HTTP_PORT

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gannet-profile.XXXXXX")
PID=
cleanup() {
	if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

rm -f "$OUT/$PROF_FILE"
LOG=$OUT/standalone.log
say "starting gannet standalone (name server $NS, broker 127.0.0.1:$BROKER_PORT, http $HTTP, --profile $PROFILE, log $LOG)"
"$BIN" standalone --data "$TMP/data" --flush "$FLUSH" \
	--namesrv-addr "$NS" --broker-addr "127.0.0.1:$BROKER_PORT" --http-addr "$HTTP" \
	--profile "$PROFILE" --profile-dir "$OUT" --log-level warn >"$LOG" 2>&1 &
PID=$!

for i in $(seq 300); do
	grep -q 'gannet standalone ready' "$LOG" && break
	kill -0 "$PID" 2>/dev/null || die "gannet standalone exited before it was ready:
$(cat "$LOG")"
	[[ $i == 300 ]] && die "gannet standalone not ready after 30 s:
$(cat "$LOG")"
	sleep 0.1
done

say "load: gannet bench -n $NS --mode produce --messages $MESSAGES --size $SIZE --producers $PRODUCERS"
bench_rc=0
bench=("$BIN" bench -n "$NS" --mode produce --messages "$MESSAGES" --size "$SIZE"
	--producers "$PRODUCERS" --quiet --timeout "${LOAD_TIMEOUT}s")
if command -v timeout >/dev/null 2>&1; then
	bench=(timeout -s INT -k 10 "$((LOAD_TIMEOUT + 10))" "${bench[@]}")
fi
"${bench[@]}" >"$OUT/bench.txt" 2>&1 || bench_rc=$?
cat "$OUT/bench.txt"

if command -v curl >/dev/null 2>&1; then
	curl -fsS --max-time 10 "http://$HTTP/metrics" >"$OUT/metrics.txt" || say "could not save /metrics"
fi

say "stopping gannet standalone (SIGINT, pid $PID)"
kill -INT "$PID"
for i in $(seq 600); do
	kill -0 "$PID" 2>/dev/null || break
	[[ $i == 600 ]] && die "gannet standalone did not stop within 60 s of SIGINT"
	sleep 0.1
done
rc=0
wait "$PID" || rc=$?
PID=
[[ $rc == 0 ]] || die "gannet standalone exited $rc:
$(tail -20 "$LOG")"
[[ $bench_rc == 0 ]] || die "gannet bench failed (exit $bench_rc); see $OUT/bench.txt"
[[ -s $OUT/$PROF_FILE ]] || die "no profile in $OUT/$PROF_FILE"

if [[ $PROFILE == trace ]]; then
	say "trace in $OUT/trace.out: go tool trace $OUT/trace.out"
	exit 0
fi
"$GO" tool pprof -top "$BIN" "$OUT/$PROF_FILE" >"$OUT/top.txt" 2>/dev/null
say "top of the profile ($OUT/top.txt):"
head -25 "$OUT/top.txt"
if [[ $have_dot == 1 ]]; then
	"$GO" tool pprof -svg "$BIN" "$OUT/$PROF_FILE" >"$OUT/$PROFILE.svg" 2>/dev/null
	say "call graph in $OUT/$PROFILE.svg"
else
	say "no call graph: graphviz's dot is missing (apt-get install graphviz), then: $GO tool pprof -svg $BIN $OUT/$PROF_FILE > $OUT/$PROFILE.svg"
fi
say "profile $OUT/$PROF_FILE; explore it with: $GO tool pprof -http=: $BIN $OUT/$PROF_FILE"
