#!/usr/bin/env bash
# bench/suite.sh: Gannet's standard benchmark suite, what `make bench` runs
# after the engine micro-benchmarks (docs/performance.md, "Standard suite").
#
#   1. builds bin/gannet;
#   2. measures the machine's ceilings (gannet bench --mode ceiling);
#   3. for each case starts a fresh `gannet standalone` process on free
#      loopback ports with an empty data directory, measures its start-up
#      (exec to the name server port accepting connections) and its resident
#      memory (/proc/<pid>/status: idle, then sampled under load), runs
#      `gannet bench -n` against it and stops it:
#        produce  size {1024, 128} x flush {async, sync} x producers {1, 64}
#        e2e      1024 B, async, 8 producers, 8 consumers
#        backlog  1,000,000 messages of 1024 B produced (async, 64
#                 producers), then drained by 8 consumers (--mode consume)
#   4. writes suite.json and `gannet bench suite-report` writes summary.md.
#
# Results: bench/results/suite-<UTC yyyymmdd-HHMM>/: <case>.json,
# <case>.broker.json, <case>/report.{json,md,html}, <case>.broker.log,
# ceiling.json, suite.json, suite.log, summary.md. Data directories are
# temporary and removed.
#
# Environment (defaults in brackets):
#   SUITE_DURATION  seconds of each timed case [10]
#   SUITE_BACKLOG   messages of the backlog fill and drain [1000000]
#   SUITE_TMPDIR    parent of the data directories and the ceiling's files
#                   [$TMPDIR or /tmp]; put it on the disk you measure
#   SUITE_RESULTS   parent of the results directory [bench/results]
#   SUITE_CASES     only the cases whose name matches this extended regex
#   GO              the go command [go]
#
# Every step is bounded by timeout(1). Exit status: 0 when every case ran
# cleanly, 1 when one failed (the others still run and the summary lists
# the failures), 2 on a usage or setup error.
set -euo pipefail

cd "$(dirname "$0")/.."
export LC_ALL=C  # a dot in $EPOCHREALTIME

GO=${GO:-go}
BIN=bin/gannet
DUR=${SUITE_DURATION:-10}
BACKLOG=${SUITE_BACKLOG:-1000000}
TMPROOT=${SUITE_TMPDIR:-${TMPDIR:-/tmp}}
RESULTS=${SUITE_RESULTS:-bench/results}
ONLY=${SUITE_CASES:-}

[[ $DUR =~ ^[1-9][0-9]*$ ]] || { echo "suite: SUITE_DURATION=$DUR: want whole seconds" >&2; exit 2; }
[[ $BACKLOG =~ ^[1-9][0-9]*$ ]] || { echo "suite: SUITE_BACKLOG=$BACKLOG: want a positive count" >&2; exit 2; }
[[ -r /proc/self/status ]] || { echo "suite: needs Linux /proc to read the broker's memory" >&2; exit 2; }

# Bounds of the steps.
BUILD_LIMIT=600            # go build
CEILING_LIMIT=120          # gannet bench --mode ceiling (about 3 s)
START_LIMIT=30             # a broker serving on both ports
STOP_LIMIT=60              # a broker's clean shutdown
CASE_LIMIT=$((DUR + 90))   # one timed case; gannet bench --timeout is DUR + 60
BACKLOG_LIMIT=1800         # the backlog fill, and again the drain
BROKER_LIMIT=$((2 * BACKLOG_LIMIT + 600))  # the life of one broker process

suite_t0=$EPOCHREALTIME
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
out=$RESULTS/suite-$(date -u +%Y%m%d-%H%M)
[[ -e $out ]] && out=$out-$(date -u +%S)
mkdir -p "$out"
exec > >(tee -a "$out/suite.log") 2>&1

work=$(mktemp -d "$TMPROOT/gannet-suite-XXXXXX")
tpid=""  # the running broker's timeout(1) process
bpid=""  # the running broker
lpid=""  # the running load generator's timeout(1) process
failures=()

cleanup() {
	local rc=$?
	if [[ -n $lpid ]]; then
		kill -TERM "$lpid" 2>/dev/null || true # timeout(1) passes it on
	fi
	if [[ -n $tpid ]]; then
		kill -TERM "$tpid" 2>/dev/null || true
		sleep 1
		kill -KILL "$tpid" 2>/dev/null || true
		[[ -n $bpid ]] && kill -KILL "$bpid" 2>/dev/null || true
	fi
	if [[ -n $lpid ]] && kill -0 "$lpid" 2>/dev/null; then
		sleep 1
		pkill -KILL -P "$lpid" 2>/dev/null || true
		kill -KILL "$lpid" 2>/dev/null || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "suite: interrupted"; exit 130' INT TERM

log() { printf '%s suite: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# A pipe that is never written: `read -t` on it sleeps without a fork.
exec {NAP}<> <(:)
nap() { read -r -t "$1" -u "$NAP" _ || true; }

# elapsed_ms T0 [T1]: milliseconds between two $EPOCHREALTIME readings.
elapsed_ms() {
	local t0=${1/./} t1=${2:-$EPOCHREALTIME}
	t1=${t1/./}
	local us=$((10#$t1 - 10#$t0))
	printf '%d.%d' $((us / 1000)) $((us % 1000 / 100))
}

# free_port: a loopback TCP port nothing listens on.
free_port() {
	local p
	for _ in {1..200}; do
		p=$((20000 + RANDOM % 30000))
		if command -v ss >/dev/null; then
			[[ -z $(ss -Htln "sport = :$p") ]] && { echo "$p"; return 0; }
		elif ! { exec {fd}<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null; then
			echo "$p"
			return 0
		else
			exec {fd}>&-
		fi
	done
	return 1
}

# accepting PORT: whether 127.0.0.1:PORT accepts a connection now.
accepting() {
	local fd
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	exec {fd}>&-
}

# wait_port PORT: until the port accepts, the broker dies, or START_LIMIT.
wait_port() {
	local deadline=$((SECONDS + START_LIMIT))
	until accepting "$1"; do
		kill -0 "$tpid" 2>/dev/null || return 1
		((SECONDS < deadline)) || return 1
		nap 0.001
	done
}

# status PID: "RssAnon VmRSS VmHWM" in KiB.
status() {
	awk '/^RssAnon:/{a=$2} /^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{printf "%d %d %d\n", a, r, h}' "/proc/$1/status"
}

procjson() { # RssAnon VmRSS VmHWM
	printf '{"rss_anon_kib": %d, "vm_rss_kib": %d, "vm_hwm_kib": %d}' "$1" "$2" "$3"
}

# start_broker NAME FLUSH: a fresh standalone broker; sets ns_port,
# broker_port, tpid, bpid, startup_ms, broker_port_ms.
start_broker() {
	local name=$1 flush=$2 t0 attempt
	data=$work/$name
	for attempt in 1 2 3; do
		rm -rf "$data"
		mkdir -p "$data"
		ns_port=$(free_port)
		broker_port=$(free_port)
		[[ $ns_port != "$broker_port" ]] || continue
		t0=$EPOCHREALTIME
		timeout --kill-after=10 "$BROKER_LIMIT" "$BIN" standalone --data "$data" \
			--namesrv-addr "127.0.0.1:$ns_port" --broker-addr "127.0.0.1:$broker_port" \
			--flush "$flush" --http-addr off --log-level warn >"$out/$name.broker.log" 2>&1 &
		tpid=$!
		if wait_port "$ns_port"; then
			startup_ms=$(elapsed_ms "$t0")
			if wait_port "$broker_port"; then
				broker_port_ms=$(elapsed_ms "$t0")
				bpid=$(cat "/proc/$tpid/task/$tpid/children" 2>/dev/null || true)
				bpid=${bpid%% *}
				if [[ -n $bpid ]]; then
					log "$name: broker pid $bpid, name server :$ns_port ($startup_ms ms), broker :$broker_port ($broker_port_ms ms), flush $flush"
					return 0
				fi
			fi
		fi
		log "$name: broker did not start (attempt $attempt):"
		sed 's/^/    /' "$out/$name.broker.log" || true
		stop_broker "$name" || true
	done
	return 1
}

# stop_broker NAME: SIGTERM, wait up to STOP_LIMIT, then SIGKILL.
stop_broker() {
	local name=$1 rc=0 deadline=$((SECONDS + STOP_LIMIT))
	[[ -n $tpid ]] || return 0
	kill -TERM "$tpid" 2>/dev/null || true
	while kill -0 "$tpid" 2>/dev/null && ((SECONDS < deadline)); do
		nap 0.05
	done
	if kill -0 "$tpid" 2>/dev/null; then
		log "$name: broker did not stop in ${STOP_LIMIT}s; killing it"
		kill -KILL "$tpid" 2>/dev/null || true
		[[ -n $bpid ]] && kill -KILL "$bpid" 2>/dev/null || true
		rc=1
	fi
	wait "$tpid" 2>/dev/null || rc=$?
	tpid="" bpid=""
	rm -rf "$data"
	return "$rc"
}

# run_load NAME LIMIT FLUSH STARTUP_MS BROKER_PORT_MS NOTE -- BENCH_FLAGS...:
# one gannet bench run against the running broker, sampling the broker's
# memory twice a second; writes NAME.json, NAME/ and NAME.broker.json.
run_load() {
	local name=$1 limit=$2 flush=$3 su=$4 bp=$5 note=$6
	shift 7
	local idle peak_a=0 peak_r=0 peak_h=0 samples=0 a r h rc=0
	nap 0.5 # let the start (or the previous load) settle
	idle=$(status "$bpid")
	log "$name: gannet bench $*"
	timeout --kill-after=10 "$limit" "$BIN" bench -n "127.0.0.1:$ns_port" \
		--json "$out/$name.json" --out "$out/$name" "$@" &
	lpid=$!
	while kill -0 "$lpid" 2>/dev/null; do
		if read -r a r h < <(status "$bpid" 2>/dev/null); then
			((a > peak_a)) && peak_a=$a
			((r > peak_r)) && peak_r=$r
			((h > peak_h)) && peak_h=$h
			samples=$((samples + 1))
		fi
		nap 0.5
	done
	wait "$lpid" || rc=$?
	lpid=""
	local end
	end=$(status "$bpid")
	read -r a r h <<<"$end"
	((a > peak_a)) && peak_a=$a
	((r > peak_r)) && peak_r=$r
	((h > peak_h)) && peak_h=$h
	printf '{"kind": "gannet-suite-broker", "case": "%s", "pid": %d, "flush": "%s", "startup_ms": %s, "broker_port_ms": %s,\n "idle": %s,\n "peak": %s,\n "end": %s,\n "samples": %d, "note": "%s"}\n' \
		"$name" "$bpid" "$flush" "$su" "$bp" "$(procjson $idle)" "$(procjson $peak_a $peak_r $peak_h)" \
		"$(procjson $end)" "$samples" "$note" >"$out/$name.broker.json"
	if ((rc != 0)); then
		log "$name: gannet bench exited $rc"
		failures+=("$name: gannet bench exited $rc")
		return 1
	fi
	log "$name: broker RSS idle $(procjson $idle), peak $(procjson $peak_a $peak_r $peak_h)"
}

want() { [[ -z $ONLY || $1 =~ $ONLY ]]; }

# timed_case NAME FLUSH BENCH_FLAGS...: fresh broker, one run of DUR seconds.
timed_case() {
	local name=$1 flush=$2
	shift 2
	want "$name" || return 0
	if ! start_broker "$name" "$flush"; then
		failures+=("$name: the broker did not start")
		return 0
	fi
	run_load "$name" "$CASE_LIMIT" "$flush" "$startup_ms" "$broker_port_ms" "" -- \
		--duration "${DUR}s" --timeout "$((DUR + 60))s" --quiet "$@" || true
	stop_broker "$name" || failures+=("$name: the broker did not stop cleanly")
}

log "results in $out, data under $work"
log "build"
timeout "$BUILD_LIMIT" "$GO" build -o "$BIN" ./cmd/gannet

log "ceiling"
if ! timeout --kill-after=10 "$CEILING_LIMIT" "$BIN" bench --mode ceiling --dir "$work" --json "$out/ceiling.json" \
	--out "$out/ceiling" --quiet; then
	failures+=("ceiling: gannet bench --mode ceiling failed")
fi

for size in 1024 128; do
	for flush in async sync; do
		for producers in 1 64; do
			timed_case "produce-${size}b-$flush-p$producers" "$flush" \
				--mode produce --size "$size" --producers "$producers"
		done
	done
done
timed_case "e2e-1024b-async-p8-c8" async --mode e2e --size 1024 --producers 8 --consumers 8

# The backlog: one broker, filled then drained.
fill=backlog-fill-1024b-async-p64
drain=backlog-drain-1024b-c8
if want "$fill"; then
	if start_broker "$fill" async; then
		if run_load "$fill" "$BACKLOG_LIMIT" async "$startup_ms" "$broker_port_ms" \
			"fills the backlog the drain below reads" -- \
			--mode produce --size 1024 --producers 64 --messages "$BACKLOG" --timeout "$((BACKLOG_LIMIT - 60))s" --quiet; then
			run_load "$drain" "$BACKLOG_LIMIT" async 0 0 \
				"same broker as $fill; idle is read after the fill, with the backlog stored" -- \
				--mode consume --consumers 8 --duration "$((BACKLOG_LIMIT - 120))s" \
				--timeout "$((BACKLOG_LIMIT - 60))s" --quiet || true
			filled=$(sed -n 's/^  "acked": \([0-9]*\),$/\1/p' "$out/$fill.json")
			drained=$(sed -n 's/^  "received": \([0-9]*\),$/\1/p' "$out/$drain.json" 2>/dev/null || true)
			log "backlog: $filled acknowledged, ${drained:-?} drained"
			if [[ $filled != "$BACKLOG" || $drained != "$filled" ]]; then
				failures+=("backlog: $BACKLOG sent, $filled acknowledged, ${drained:-?} drained")
			fi
		fi
		stop_broker "$fill" || failures+=("$fill: the broker did not stop cleanly")
	else
		failures+=("$fill: the broker did not start")
	fi
fi

elapsed_s=$(elapsed_ms "$suite_t0")
elapsed_s=$(awk -v ms="$elapsed_s" 'BEGIN{printf "%.1f", ms/1000}')
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo "")
dirty=false
[[ -n $commit && -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]] && dirty=true
{
	printf '{"kind": "gannet-suite", "started_at": "%s", "elapsed_s": %s, "commit": "%s", "dirty": %s,\n' \
		"$started_at" "$elapsed_s" "$commit" "$dirty"
	printf ' "case_duration_s": %d, "backlog": %d, "failures": [' "$DUR" "$BACKLOG"
	sep=""
	for f in "${failures[@]}"; do
		printf '%s"%s"' "$sep" "${f//\"/\'}"
		sep=", "
	done
	printf ']}\n'
} >"$out/suite.json"

log "summary (suite took ${elapsed_s}s)"
timeout 60 "$BIN" bench suite-report "$out"
if ((${#failures[@]} > 0)); then
	log "FAILED: ${failures[*]}"
	exit 1
fi
log "done: $out"
