#!/usr/bin/env bash
# bench/mqtt-suite.sh: MQTT figures of Gannet against bare in-memory MQTT,
# in one run on this machine.
#
# Brokers, each a fresh `gannet standalone` process per case with an empty
# data directory, MQTT on a free loopback port (or, when this binary's
# standalone has no --mqtt-addr, or with MQTT_SUITE_INPROCESS=1, the same
# front end started inside `gannet bench --standalone`):
#   memory  --mqtt-persist=false: bare in-memory mochi, no storage (the
#           baseline every ratio divides by)
#   async   Gannet, every publish stored, --flush async
#   sync    Gannet, every publish stored, --flush sync (PUBACK after fsync)
# Cases, 128 B payloads, MQTT_SUITE_DURATION seconds each:
#   produce  QoS 0 and 1 x 1 and 16 publishers: publish throughput
#   e2e      QoS 0 and 1 x 1 and 16 publishers, 1 subscriber, at a fixed
#            total rate (open loop, MQTT_SUITE_E2E_RATE) that every broker
#            sustains: latency from the scheduled send time in the payload to
#            receipt, lost and duplicated. (A closed loop would measure how
#            far the publishers outrun the subscriber, not latency.)
#
# Output: bench/results/mqtt-<UTC yyyymmdd-HHMM>.md (the tables), and beside
# it mqtt-<same>/ with each case's JSON report and broker log.
#
# Environment (defaults in brackets):
#   MQTT_SUITE_DURATION  seconds of each case [10]
#   MQTT_SUITE_INFLIGHT  publishes outstanding per publisher [32]
#   MQTT_SUITE_E2E_RATE  messages per second of the e2e cases, all
#                        publishers together [1000]
#   MQTT_SUITE_TMPDIR    parent of the data directories [$TMPDIR or /tmp]
#   MQTT_SUITE_RESULTS   where the results go [bench/results]
#   MQTT_SUITE_CASES     only the cases (broker-mode-qosN-pN) matching this
#                        extended regex
#   MQTT_SUITE_INPROCESS 1: broker and load in one process [0]
#   GO                   the go command [go]
#
# Needs jq. Every step is bounded by timeout(1). Exit status: 0 when every
# case ran cleanly, 1 when one failed (the others still run and the tables
# mark it), 2 on a usage or setup error.
set -euo pipefail

cd "$(dirname "$0")/.."
export LC_ALL=C

GO=${GO:-go}
BIN=bin/gannet
DUR=${MQTT_SUITE_DURATION:-10}
INFLIGHT=${MQTT_SUITE_INFLIGHT:-32}
E2E_RATE=${MQTT_SUITE_E2E_RATE:-1000}
TMPROOT=${MQTT_SUITE_TMPDIR:-${TMPDIR:-/tmp}}
RESULTS=${MQTT_SUITE_RESULTS:-bench/results}
ONLY=${MQTT_SUITE_CASES:-}
INPROC=${MQTT_SUITE_INPROCESS:-0}
SIZE=128

[[ $DUR =~ ^[1-9][0-9]*$ ]] || { echo "mqtt-suite: MQTT_SUITE_DURATION=$DUR: want whole seconds" >&2; exit 2; }
[[ $E2E_RATE =~ ^[1-9][0-9]*$ ]] || { echo "mqtt-suite: MQTT_SUITE_E2E_RATE=$E2E_RATE: want msg/s" >&2; exit 2; }
[[ $INFLIGHT =~ ^[1-9][0-9]*$ ]] || { echo "mqtt-suite: MQTT_SUITE_INFLIGHT=$INFLIGHT: want a positive count" >&2; exit 2; }
command -v jq >/dev/null || { echo "mqtt-suite: needs jq" >&2; exit 2; }

BUILD_LIMIT=600
START_LIMIT=30
STOP_LIMIT=60
CASE_LIMIT=$((DUR + 90))
BROKER_LIMIT=$((DUR + 300))

stamp=$(date -u +%Y%m%d-%H%M)
md=$RESULTS/mqtt-$stamp.md
out=$RESULTS/mqtt-$stamp
[[ -e $out ]] && { out=$out-$(date -u +%S); md=$out.md; }
mkdir -p "$out"
exec > >(tee -a "$out/suite.log") 2>&1

work=$(mktemp -d "$TMPROOT/gannet-mqtt-suite-XXXXXX")
tpid="" # the running broker's timeout(1) process
failures=()

cleanup() {
	local rc=$?
	if [[ -n $tpid ]]; then
		kill -TERM "$tpid" 2>/dev/null || true
		sleep 1
		kill -KILL "$tpid" 2>/dev/null || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "mqtt-suite: interrupted"; exit 130' INT TERM

log() { printf '%s mqtt-suite: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

free_port() {
	local p
	for _ in {1..200}; do
		p=$((20000 + RANDOM % 30000))
		[[ -z $(ss -Htln "sport = :$p" 2>/dev/null) ]] && { echo "$p"; return 0; }
	done
	return 1
}

accepting() {
	local fd
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	exec {fd}>&-
}

# start_broker NAME KIND: a fresh standalone broker; sets mqtt_port, tpid.
start_broker() {
	local name=$1 kind=$2 attempt ns_port broker_port ha_port deadline
	local -a flags
	case $kind in
	memory) flags=(--mqtt-persist=false --flush async) ;;
	async) flags=(--flush async) ;;
	sync) flags=(--flush sync) ;;
	esac
	data=$work/$name
	for attempt in 1 2 3; do
		rm -rf "$data"
		mkdir -p "$data"
		ns_port=$(free_port)
		broker_port=$(free_port)
		mqtt_port=$(free_port)
		# The broker also listens on broker_port+1 (haListenPort).
		ha_port=$((broker_port + 1))
		[[ -z $(ss -Htln "sport = :$ha_port" 2>/dev/null) ]] || continue
		[[ $(printf '%s\n' "$ns_port" "$broker_port" "$ha_port" "$mqtt_port" | sort -u | wc -l) == 4 ]] || continue
		timeout --kill-after=10 "$BROKER_LIMIT" "$BIN" standalone --data "$data" \
			--namesrv-addr "127.0.0.1:$ns_port" --broker-addr "127.0.0.1:$broker_port" \
			--mqtt-addr "127.0.0.1:$mqtt_port" "${flags[@]}" --http-addr off --log-level warn \
			>"$out/$name.broker.log" 2>&1 &
		tpid=$!
		deadline=$((SECONDS + START_LIMIT))
		while kill -0 "$tpid" 2>/dev/null && ((SECONDS < deadline)); do
			if accepting "$mqtt_port"; then
				return 0
			fi
			sleep 0.01
		done
		log "$name: broker did not start (attempt $attempt):"
		sed 's/^/    /' "$out/$name.broker.log" || true
		stop_broker "$name" || true
	done
	return 1
}

stop_broker() {
	local name=$1 rc=0 deadline=$((SECONDS + STOP_LIMIT))
	[[ -n $tpid ]] || return 0
	kill -TERM "$tpid" 2>/dev/null || true
	while kill -0 "$tpid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.05
	done
	if kill -0 "$tpid" 2>/dev/null; then
		log "$name: broker did not stop in ${STOP_LIMIT}s; killing it"
		kill -KILL "$tpid" 2>/dev/null || true
		rc=1
	fi
	local status=0
	wait "$tpid" 2>/dev/null || status=$?
	if ((status != 0)); then
		log "$name: broker exited $status:"
		tail -5 "$out/$name.broker.log" | sed 's/^/    /' || true
		rc=1
	fi
	tpid=""
	rm -rf "$data"
	return "$rc"
}

want() { [[ -z $ONLY || $1 =~ $ONLY ]]; }

BROKERS=(memory async sync)
MODES=(produce e2e)
QOSES=(0 1)
PUBS=(1 16)

log "results in $md and $out/, data under $work"
log "build"
timeout "$BUILD_LIMIT" "$GO" build -o "$BIN" ./cmd/gannet
standalone_help=$("$BIN" standalone --help 2>&1 || true)
if [[ $INPROC != 1 && $standalone_help != *-mqtt-addr* ]]; then
	log "this gannet standalone has no --mqtt-addr: broker and load run in one process (gannet bench --standalone)"
	INPROC=1
fi

# bench_flags KIND: how `gannet bench` reaches the broker of KIND.
bench_flags() {
	if [[ $INPROC == 1 ]]; then
		case $1 in
		memory) echo "--standalone --mqtt-persist=false --dir $work" ;;
		*) echo "--standalone --flush $1 --dir $work" ;;
		esac
	else
		echo "--mqtt-addr 127.0.0.1:$mqtt_port"
	fi
}

suite_start=$SECONDS
for mode in "${MODES[@]}"; do
	for qos in "${QOSES[@]}"; do
		for p in "${PUBS[@]}"; do
			for kind in "${BROKERS[@]}"; do
				name=$kind-$mode-qos$qos-p$p
				want "$name" || continue
				if [[ $INPROC != 1 ]] && ! start_broker "$name" "$kind"; then
					failures+=("$name: the broker did not start")
					continue
				fi
				log "$name: gannet bench --proto mqtt --mode $mode --qos $qos --producers $p"
				rc=0
				rate=()
				[[ $mode == e2e ]] && rate=(--rate "$E2E_RATE")
				# shellcheck disable=SC2046 # bench_flags is words by design
				timeout --kill-after=10 "$CASE_LIMIT" "$BIN" bench --proto mqtt $(bench_flags "$kind") \
					--mode "$mode" --qos "$qos" --producers "$p" --size "$SIZE" --inflight "$INFLIGHT" \
					--topic "bench/$mode/q$qos" "${rate[@]}" --duration "${DUR}s" --timeout "$((DUR + 60))s" --quiet \
					--json "$out/$name.json" >"$out/$name.md" 2>"$out/$name.bench.log" || rc=$?
				if ((rc != 0)); then
					failures+=("$name: gannet bench exited $rc")
					log "$name: gannet bench exited $rc"
					sed 's/^/    /' "$out/$name.bench.log" || true
				else
					log "$name: $(jq -r '"\(.msgs_per_sec|floor) msg/s, p99 \(.latency_us.p99) µs, missing \(.missing), errors \(.errors)"' "$out/$name.json")"
				fi
				if [[ $INPROC != 1 ]]; then
					stop_broker "$name" || failures+=("$name: the broker did not stop cleanly")
				fi
			done
		done
	done
done
elapsed=$((SECONDS - suite_start))

# ---- the tables ----

# fig NAME FILTER: a jq figure of one case, or "–" when it did not run.
fig() {
	local f=$out/$1.json
	if [[ -s $f ]]; then jq -r "$2" "$f"; else echo "–"; fi
}

# ratio A B: A/B to two places, or "–".
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "–" || b == "–" || b + 0 == 0) print "–"; else printf "%.2f\n", a / b }'
}

# humanize µs.
us() {
	awk -v v="$1" 'BEGIN { if (v == "–") print "–"; else if (v >= 1000000) printf "%.2f s\n", v / 1e6;
		else if (v >= 1000) printf "%.2f ms\n", v / 1e3; else printf "%d µs\n", v }'
}

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo "?")
dirty=""
[[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]] && dirty=" (uncommitted changes)"
{
	echo "# MQTT: Gannet against bare in-memory MQTT"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), $(hostname), $(nproc) CPUs, commit $commit$dirty; bench/mqtt-suite.sh"
	echo "(${DUR} s per case, ${elapsed} s in all)."
	echo
	if [[ $INPROC == 1 ]]; then
		echo "Every case is one \`gannet bench --proto mqtt --standalone\` process: a fresh broker with the"
		echo "MQTT front end on random loopback ports and the load (paho MQTT 3.1.1 clients) beside it, $SIZE B payloads,"
	else
		echo "Every case is a fresh \`gannet standalone\` process; the load is \`gannet bench --proto mqtt\`"
		echo "(paho MQTT 3.1.1 clients, another process on the same machine), $SIZE B payloads,"
	fi
	echo "$INFLIGHT publishes in flight per publisher. *memory* is \`--mqtt-persist=false\`:"
	echo "mochi with no storage, the baseline; *async* and *sync* store every publish in the"
	echo "CommitLog with \`--flush async\` / \`--flush sync\`. Ratios are Gannet / memory: above 1"
	echo "is more throughput, or more latency."
	echo
	echo "## Publish throughput (msg/s; produce mode, no subscriber)"
	echo
	echo "| QoS | publishers | memory | async | async / memory | sync | sync / memory |"
	echo "|---|---|---|---|---|---|---|"
	for qos in "${QOSES[@]}"; do
		for p in "${PUBS[@]}"; do
			m=$(fig "memory-produce-qos$qos-p$p" '.msgs_per_sec|floor')
			a=$(fig "async-produce-qos$qos-p$p" '.msgs_per_sec|floor')
			s=$(fig "sync-produce-qos$qos-p$p" '.msgs_per_sec|floor')
			echo "| $qos | $p | $m | $a | $(ratio "$a" "$m") | $s | $(ratio "$s" "$m") |"
		done
	done
	echo
	echo "## End-to-end p99 (scheduled send to receipt, 1 subscriber, $E2E_RATE msg/s in all)"
	echo
	echo "| QoS | publishers | memory | async | async / memory | sync | sync / memory |"
	echo "|---|---|---|---|---|---|---|"
	for qos in "${QOSES[@]}"; do
		for p in "${PUBS[@]}"; do
			m=$(fig "memory-e2e-qos$qos-p$p" '.latency_us.p99')
			a=$(fig "async-e2e-qos$qos-p$p" '.latency_us.p99')
			s=$(fig "sync-e2e-qos$qos-p$p" '.latency_us.p99')
			echo "| $qos | $p | $(us "$m") | $(us "$a") | $(ratio "$a" "$m") | $(us "$s") | $(ratio "$s" "$m") |"
		done
	done
	echo
	echo "## End-to-end details"
	echo
	echo "Received msg/s is what the subscriber got; lost = acknowledged (QoS 1) or written"
	echo "(QoS 0) but never received; dup = received twice. QoS 0 may lose by definition."
	echo
	echo "| case | received msg/s | p50 | p99 | p99.9 | max | publish p99 | sent | lost | dup | errors |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	for qos in "${QOSES[@]}"; do
		for p in "${PUBS[@]}"; do
			for kind in "${BROKERS[@]}"; do
				n=$kind-e2e-qos$qos-p$p
				f=$out/$n.json
				if [[ -s $f ]]; then
					read -r rate p50 p99 p999 mx sp99 sent lost dup errs < <(jq -r \
						'[(.msgs_per_sec|floor), .latency_us.p50, .latency_us.p99, .latency_us.p999, .latency_us.max,
						  (.send_latency_us.p99 // 0), .sent, .missing,
						  (.errors_by_kind["receive: duplicate (same publisher and sequence)"] // 0), .errors] | @tsv' "$f")
					echo "| $n | $rate | $(us "$p50") | $(us "$p99") | $(us "$p999") | $(us "$mx") | $(us "$sp99") | $sent | $lost | $dup | $errs |"
				else
					echo "| $n | – | – | – | – | – | – | – | – | – | – |"
				fi
			done
		done
	done
	if ((${#failures[@]} > 0)); then
		echo
		echo "## Failures"
		echo
		for f in "${failures[@]}"; do echo "- $f"; done
	fi
} >"$md"

log "wrote $md"
cat "$md"
if ((${#failures[@]} > 0)); then
	log "FAILED: ${failures[*]}"
	exit 1
fi
