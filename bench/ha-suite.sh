#!/usr/bin/env bash
# bench/ha-suite.sh: what replication costs a producer, in one run on this
# machine (docs/deploy.md).
#
#   1. builds bin/gannet;
#   2. for each setup starts, by hand and on free loopback ports, a name
#      server (gannet namesrv) and its brokers (gannet broker -c, files
#      written here), all flushDiskType=ASYNC_FLUSH so that only replication
#      differs, with empty stores:
#        no-slave      one ASYNC_MASTER, no slave
#        async-slave   one ASYNC_MASTER and its SLAVE
#        sync-slave    one SYNC_MASTER and its SLAVE
#      waits until the name server lists every broker and a slave is
#      connected to its master, then runs
#        gannet bench --mode produce --producers 64 --size 1024 --duration 15s
#        gannet bench --mode e2e --producers 8 --consumers 8 --size 1024 --duration 10s
#      and stops the brokers, then the name server;
#   3. writes bench/results/ha-<UTC yyyymmdd-HHMM>.md: per setup and mode
#      msg/s, MB/s, latency percentiles, the ratio to no-slave and the
#      answers that were not SUCCESS, by kind.
#
# gannet bench counts every answer that is not SUCCESS as an error, so a
# SYNC_MASTER's SLAVE_NOT_AVAILABLE and FLUSH_SLAVE_TIMEOUT (stored on the
# master only) are in the error column, named in the "errors by kind"
# column.
#
# Environment (defaults in brackets):
#   HA_DURATION   seconds of each produce run [15]
#   HA_E2E        seconds of each e2e run, 0 to skip [10]
#   HA_TMPDIR     parent of the stores [$TMPDIR or /tmp]; put it on the disk
#                 you measure
#   HA_RESULTS    directory of the report [bench/results]
#   GO            the go command [go]
#
# Every step is bounded by timeout(1). Exit status: 0 when every run was
# clean, 1 when one failed (the others still run and the report says so),
# 2 on a usage or setup error.
set -euo pipefail

cd "$(dirname "$0")/.."
export LC_ALL=C

GO=${GO:-go}
BIN=bin/gannet
DUR=${HA_DURATION:-15}
E2E=${HA_E2E:-10}
TMPROOT=${HA_TMPDIR:-${TMPDIR:-/tmp}}
RESULTS=${HA_RESULTS:-bench/results}

[[ $DUR =~ ^[1-9][0-9]*$ ]] || { echo "ha-suite: HA_DURATION=$DUR: want whole seconds" >&2; exit 2; }
[[ $E2E =~ ^[0-9]+$ ]] || { echo "ha-suite: HA_E2E=$E2E: want whole seconds" >&2; exit 2; }

BUILD_LIMIT=600  # go build
START_LIMIT=60   # every process listening, registered, slave connected
STOP_LIMIT=30    # one process's clean shutdown
PROC_LIMIT=900   # the life of one process

work=$(mktemp -d "$TMPROOT/gannet-ha-XXXXXX")
mkdir -p "$RESULTS"
report=$RESULTS/ha-$(date -u +%Y%m%d-%H%M).md
pids=()  # timeout(1) processes of the running setup, name server first
names=()
failures=()

log() { printf '%s ha-suite: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

stop_all() {
	local i deadline
	# Brokers (last started first), then the name server.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || continue
		deadline=$((SECONDS + STOP_LIMIT))
		while kill -0 "${pids[i]}" 2>/dev/null && ((SECONDS < deadline)); do
			sleep 0.05
		done
		if kill -0 "${pids[i]}" 2>/dev/null; then
			log "${names[i]} did not stop in ${STOP_LIMIT}s; killing it"
			failures+=("${names[i]}: did not stop cleanly")
			pkill -KILL -P "${pids[i]}" 2>/dev/null || true
			kill -KILL "${pids[i]}" 2>/dev/null || true
		fi
		wait "${pids[i]}" 2>/dev/null || true
	done
	pids=() names=()
}

cleanup() {
	local rc=$?
	stop_all
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# free_port: a loopback TCP port nothing listens on, nor on port+1.
free_port() {
	local p
	for _ in {1..200}; do
		p=$((20000 + RANDOM % 30000))
		[[ -z $(ss -Htln "( sport = :$p or sport = :$((p + 1)) )" 2>/dev/null) ]] && { echo "$p"; return 0; }
	done
	return 1
}

accepting() {
	local fd
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	exec {fd}>&-
}

# wait_for NAME PID CMD...: until CMD succeeds, PID exits, or START_LIMIT.
wait_for() {
	local name=$1 pid=$2 deadline=$((SECONDS + START_LIMIT))
	shift 2
	until "$@"; do
		kill -0 "$pid" 2>/dev/null || { log "$name exited while starting"; return 1; }
		((SECONDS < deadline)) || { log "$name: timed out waiting for: $*"; return 1; }
		sleep 0.05
	done
}

# spawn NAME LOG ARGS...: runs gannet ARGS in the background.
spawn() {
	local name=$1 logf=$2
	shift 2
	timeout --kill-after=10 "$PROC_LIMIT" "$BIN" "$@" --http-addr off --log-level info >"$logf" 2>&1 &
	pids+=("$!")
	names+=("$name")
}

# conf FILE ROLE ID PORT: a broker.properties of group broker-a.
conf() {
	cat >"$1" <<-EOF
		brokerClusterName=DefaultCluster
		brokerName=broker-a
		brokerId=$3
		brokerRole=$2
		flushDiskType=ASYNC_FLUSH
		namesrvAddr=127.0.0.1:$ns_port
		brokerIP1=127.0.0.1
		listenPort=$4
		haListenPort=$(($4 + 1))
		storePathRootDir=$(dirname "$1")/store-$3
	EOF
}

# start_setup NAME ROLE SLAVE(0|1): name server, master, maybe a slave.
start_setup() {
	local name=$1 role=$2 with_slave=$3 master_port slave_port
	setup_dir=$work/$name
	mkdir -p "$setup_dir"
	ns_port=$(free_port)
	master_port=$(free_port)
	slave_port=$(free_port)
	spawn namesrv "$setup_dir/namesrv.log" namesrv --listen "127.0.0.1:$ns_port"
	wait_for namesrv "${pids[0]}" accepting "$ns_port" || return 1
	conf "$setup_dir/master.properties" "$role" 0 "$master_port"
	spawn master "$setup_dir/master.log" broker -c "$setup_dir/master.properties"
	wait_for master "${pids[1]}" accepting "$master_port" || return 1
	if ((with_slave)); then
		conf "$setup_dir/slave.properties" SLAVE 1 "$slave_port"
		# The slave learns its master's HA address from the name server
		# when it registers: the master has registered by now (its first
		# registration comes before it serves), so give it a moment.
		sleep 1
		spawn slave "$setup_dir/slave.log" broker -c "$setup_dir/slave.properties"
		wait_for slave "${pids[2]}" accepting "$slave_port" || return 1
		wait_for "slave connection" "${pids[2]}" grep -q "slave connected" "$setup_dir/master.log" || return 1
	fi
	log "$name: name server :$ns_port, master ($role) :$master_port$( ((with_slave)) && echo ", slave :$slave_port")"
}

# field FILE: "msg/s MB/s p50 p99 p999 errors" of a bench JSON report
# (latency in ms).
fields() {
	awk '
		/^  "msgs_per_sec":/ { gsub(/,/, "", $2); mps = $2 }
		/^  "mb_per_sec":/ { gsub(/,/, "", $2); mbs = $2 }
		/^  "errors":/ { gsub(/,/, "", $2); errs = $2 }
		/^  "latency_us": \{/ { inlat = 1; next }
		inlat && /^  \}/ { inlat = 0 }
		inlat && /"p50":/ { gsub(/,/, "", $2); p50 = $2 }
		inlat && /"p99":/ { gsub(/,/, "", $2); p99 = $2 }
		inlat && /"p999":/ { gsub(/,/, "", $2); p999 = $2 }
		END { printf "%s %s %.2f %.2f %.2f %s\n", mps, mbs, p50 / 1000, p99 / 1000, p999 / 1000, errs }
	' "$1"
}

# kinds FILE: the errors_by_kind map of a bench JSON report, one line.
kinds() {
	awk '
		/^  "errors_by_kind": \{/ { in_k = 1; next }
		in_k && /^  \}/ { in_k = 0 }
		in_k { gsub(/^ +|,$/, ""); out = out (out ? "; " : "") $0 }
		END { print (out ? out : "-") }
	' "$1" | tr -d '"'
}

# run_bench SETUP MODE ARGS...: one gannet bench run; JSON in the work dir.
run_bench() {
	local setup=$1 mode=$2 secs
	shift 2
	secs=$([[ $mode == produce ]] && echo "$DUR" || echo "$E2E")
	log "$setup: gannet bench --mode $mode $*"
	if ! timeout --kill-after=10 "$((secs + 120))" "$BIN" bench -n "127.0.0.1:$ns_port" --mode "$mode" "$@" \
		--duration "${secs}s" --timeout "$((secs + 60))s" --quiet --topic "Ha${mode^}" \
		--json "$work/$setup-$mode.json" >"$work/$setup-$mode.md" 2>"$work/$setup-$mode.err"; then
		failures+=("$setup $mode: gannet bench failed: $(tail -n 3 "$work/$setup-$mode.err" | tr '\n' ' ')")
		return 1
	fi
}

log "report $report, stores under $work"
log "build"
timeout "$BUILD_LIMIT" "$GO" build -o "$BIN" ./cmd/gannet

setups=(no-slave async-slave sync-slave)
declare -A roles=([no-slave]=ASYNC_MASTER [async-slave]=ASYNC_MASTER [sync-slave]=SYNC_MASTER)
declare -A slaves=([no-slave]=0 [async-slave]=1 [sync-slave]=1)
declare -A logs loads
for s in "${setups[@]}"; do
	loads[$s]=$(cut -d' ' -f1 /proc/loadavg)
	if start_setup "$s" "${roles[$s]}" "${slaves[$s]}"; then
		run_bench "$s" produce --producers 64 --size 1024 || true
		if ((E2E > 0)); then
			run_bench "$s" e2e --producers 8 --consumers 8 --size 1024 || true
		fi
	else
		failures+=("$s: did not start")
		for f in "$setup_dir"/*.log; do
			log "$f:"
			sed 's/^/    /' "$f" >&2 || true
		done
	fi
	stop_all
	# Warnings and errors of the brokers go into the report.
	logs[$s]=$(cat "$setup_dir"/*.log 2>/dev/null | grep -E 'level=(WARN|ERROR)' | head -n 5 || true)
done

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo "?")
{
	echo "# Replication cost, $(date -u +%Y-%m-%d)"
	echo
	echo "bench/ha-suite.sh on $(hostname) ($(nproc) CPUs, $(uname -sr)), commit $commit;"
	echo "stores under $TMPROOT ($(df -T "$TMPROOT" | awk 'NR==2{print $2}')). One name server and broker group"
	echo "broker-a on this machine, every process on loopback, flushDiskType=ASYNC_FLUSH everywhere:"
	echo "no-slave is one ASYNC_MASTER; async-slave adds a SLAVE to it; sync-slave is a SYNC_MASTER"
	echo "with a SLAVE (a send is answered once the slave has it). Each setup starts with empty stores."
	echo
	echo "produce: \`gannet bench --mode produce --producers 64 --size 1024 --duration ${DUR}s\`"
	echo "(closed loop, 128 sends in flight per producer, latency from send to answer)."
	if ((E2E > 0)); then
		echo "e2e: \`gannet bench --mode e2e --producers 8 --consumers 8 --size 1024 --duration ${E2E}s\`"
		echo "(latency from send to receipt by a consumer of the master)."
	fi
	echo
	echo "gannet bench counts every answer that is not SUCCESS as an error: \"not SUCCESS\" includes"
	echo "SLAVE_NOT_AVAILABLE and FLUSH_SLAVE_TIMEOUT (the message is stored on the master only)."
	echo
	echo "Other work on the machine shows in the load average (1 min) read before each setup started:"
	echo "$(for s in "${setups[@]}"; do printf '%s %s; ' "$s" "${loads[$s]}"; done)with $(nproc) CPUs shared by the"
	echo "name server, the brokers and the load generator."
	echo
	echo "| setup | mode | msg/s | MB/s | p50 ms | p99 ms | p99.9 ms | ratio to no-slave | not SUCCESS | by kind |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
	for mode in produce e2e; do
		base=""
		for s in "${setups[@]}"; do
			f=$work/$s-$mode.json
			[[ -s $f ]] || continue
			read -r mps mbs p50 p99 p999 errs < <(fields "$f")
			[[ $s == no-slave ]] && base=$mps
			ratio=$([[ -n $base ]] && awk -v a="$mps" -v b="$base" 'BEGIN{printf "%.2f", a / b}' || echo "-")
			printf '| %s | %s | %.0f | %.1f | %s | %s | %s | %s | %s | %s |\n' \
				"$s" "$mode" "$mps" "$mbs" "$p50" "$p99" "$p999" "$ratio" "$errs" "$(kinds "$f")"
		done
	done
	echo
	for s in "${setups[@]}"; do
		if [[ -n ${logs[$s]} ]]; then
			echo "Warnings and errors logged by $s (first 5):"
			echo
			echo '```'
			echo "${logs[$s]}"
			echo '```'
			echo
		fi
	done
	if ((${#failures[@]} > 0)); then
		echo "Failures:"
		echo
		for f in "${failures[@]}"; do echo "- $f"; done
	else
		echo "Every run ended cleanly."
	fi
} >"$report"
cat "$report"
if ((${#failures[@]} > 0)); then
	log "FAILED: ${failures[*]}"
	exit 1
fi
log "done: $report"
