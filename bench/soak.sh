#!/usr/bin/env bash
# Soak: does memory stay flat over a long run (tens of millions of events)?
#
# (a) replay: `ccpulse sim --out ndjson --speed max --events N` piped into
#     `ccpulse replay -` (no file on disk); the replay's VmRSS sampled every
#     second from /proc/PID/status, progress from /proc/PID/io (bytes read).
# (b) live: `ccpulse broker` (8 partitions), a private redis-server (free
#     loopback port, no persistence), `ccpulse run` (idle_advance 0: the
#     traffic's event time runs days behind the wall clock) fed by
#     `ccpulse sim --out kafka --speed X --events N`; the run's VmRSS sampled
#     every second, progress from its /metrics (ccpulse_events_consumed_total),
#     and beside it the broker's and redis-server's RSS. The mock broker keeps
#     at most ~5 MB (or 100,000 message sets) per partition (librdkafka's mock
#     cluster drops the oldest beyond that), so the broker does not hold the
#     whole run; the producer is paced (--live-speed) so the consumer keeps up
#     and nothing is dropped before it is read; the script checks that every
#     produced contact event was consumed.
# Traffic: a center of 40 queues (1,500 calls/h at the peak each, 130 agents):
# about 4 M events per simulated day, so one day fills the 24 h dedup horizon
# and the 24 h windows, and a week the 7 d open horizon.
# Prints RSS at start, after warm-up (once the events of the first
# WARMUP_DAYS simulated days are in), the max, at the end, and the growth over
# the second half of the events (end minus the half-way sample, and a
# least-squares slope over the second half in MB per 10 M events).
#
# Run (after building build-chaos, see bench/chaos.sh):
#   bash bench/soak.sh                          # both, 60 M events each
#   bash bench/soak.sh --only replay --replay-events 20000000
#   bash bench/soak.sh --only live --live-events 30000000 --live-speed 3000
# Options (environment in brackets): --replay-events N [SOAK_REPLAY_EVENTS=60000000]
#   --live-events N [SOAK_LIVE_EVENTS=60000000]  --live-speed X [SOAK_LIVE_SPEED=2500]
#   --warmup-days D [SOAK_WARMUP_DAYS=7.5]  --only replay|live  --bin PATH [CCP_BIN]
#   --out DIR (keep samples and logs there; default a temp dir, removed)
#   --preload LIB [SOAK_RUN_PRELOAD] (LD_PRELOAD for `ccpulse run` only, e.g. jemalloc)
# Only loopback addresses; everything started is stopped by PID on exit.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
BIN=${CCP_BIN:-$repo/build-chaos/ccpulse}
REPLAY_EVENTS=${SOAK_REPLAY_EVENTS:-60000000}
LIVE_EVENTS=${SOAK_LIVE_EVENTS:-60000000}
LIVE_SPEED=${SOAK_LIVE_SPEED:-2500}
WARMUP_DAYS=${SOAK_WARMUP_DAYS:-7.5}
REST_S=${SOAK_REST_S:-30} # live: seconds sampled after the last event was consumed
ONLY=both
RUN_PRELOAD=${SOAK_RUN_PRELOAD:-} # e.g. /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 for `ccpulse run` only
OUT=""
QUEUES=40
QUEUE_SPEC=1500:300:130:180
SEED=9
EVENTS_PER_DAY=4004222 # this center, measured: sim --hours 24 with these queues

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case "$1" in
	--replay-events) REPLAY_EVENTS=$2; shift 2 ;;
	--live-events) LIVE_EVENTS=$2; shift 2 ;;
	--live-speed) LIVE_SPEED=$2; shift 2 ;;
	--warmup-days) WARMUP_DAYS=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--bin) BIN=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--preload) RUN_PRELOAD=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "soak: unknown argument $1 (--help)" >&2; exit 2 ;;
	esac
done
[ -x "$BIN" ] || { echo "soak: $BIN not built" >&2; exit 2; }
for tool in redis-server redis-cli python3 curl; do
	command -v "$tool" >/dev/null || { echo "soak: $tool not found (bash scripts/setup.sh)" >&2; exit 2; }
done

declare -A OWNED=()
KEEP_OUT=1
if [ -z "$OUT" ]; then
	OUT=$(mktemp -d "${TMPDIR:-/tmp}/ccpulse-soak.XXXXXX")
	KEEP_OUT=0
fi
mkdir -p "$OUT"

stop_pid() {
	local pid=$1 grace=${2:-10} i
	[[ "$pid" =~ ^[1-9][0-9]*$ ]] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < grace * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	local rc=$?
	unset "OWNED[$pid]"
	return $rc
}
cleanup() {
	local pid
	for pid in "${!OWNED[@]}"; do stop_pid "$pid" 5; done
	[ "$KEEP_OUT" = 1 ] || rm -rf "$OUT"
}
trap cleanup EXIT
trap 'echo "soak: interrupted"; exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

SIM_Q=()
for ((i = 1; i <= QUEUES; i++)); do SIM_Q+=(--queue "$(printf 'q%02d' "$i"):$QUEUE_SPEC"); done

rss_kb() { awk '/^VmRSS:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# sampler PID OUTFILE PROGRESS-FUNCTION [EXTRA-PIDS...]: one line a second,
# "elapsed_s rss_kb progress [extra rss_kb...]", until PID exits.
sampler() {
	local pid=$1 out=$2 progress=$3
	shift 3
	local t0 now p x extra last=""
	t0=$(date +%s%3N)
	while kill -0 "$pid" 2>/dev/null; do
		now=$(date +%s%3N)
		p=$($progress "$pid")
		[ -n "$p" ] && last=$p || p=$last # no answer this second: the last one
		extra=""
		for x in "$@"; do extra+=" $(rss_kb "$x")"; done
		echo "$(((now - t0) / 1000)).$(printf '%03d' $(((now - t0) % 1000))) $(rss_kb "$pid") ${p:-0}$extra" >>"$out"
		sleep 1
	done
}

# figures FILE TOTAL_EVENTS: progress column converted to events already.
figures() {
	python3 - "$@" <<'EOF'
import sys
path, total, warm_days, per_day = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
names = sys.argv[5:]
rows = [list(map(float, l.split())) for l in open(path) if l.strip()]
rows = [r for r in rows if r[1] > 0]
if not rows:
    print("  no samples"); sys.exit(1)
mb = lambda kb: kb / 1024.0
def at(ev):
    for r in rows:
        if r[2] >= ev:
            return r
    return rows[-1]
start, end = rows[0], rows[-1]
warm_ev = warm_days * per_day
warm = at(warm_ev)
half = at(total / 2)
peak = max(rows, key=lambda r: r[1])
second = [r for r in rows if r[2] >= total / 2]
slope = 0.0
if len(second) >= 3:
    xs = [r[2] / 1e7 for r in second]; ys = [mb(r[1]) for r in second]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0
print("  %d samples over %.0f s, %.1f M events" % (len(rows), end[0], end[2] / 1e6))
print("  RSS at start                              %8.1f MB" % mb(start[1]))
print("  RSS after warm-up (%.1f M events, %.1f days) %8.1f MB  (t=%.0f s)" % (warm[2] / 1e6, warm_days, mb(warm[1]), warm[0]))
print("  RSS max                                   %8.1f MB  (t=%.0f s, %.1f M events)" % (mb(peak[1]), peak[0], peak[2] / 1e6))
print("  RSS at half-way (%.1f M events)           %8.1f MB" % (half[2] / 1e6, mb(half[1])))
print("  RSS at the end                            %8.1f MB" % mb(end[1]))
print("  growth over the second half               %+8.1f MB  (slope %+.2f MB per 10 M events)" % (mb(end[1]) - mb(half[1]), slope))
for i, n in enumerate(names):
    col = [r[3 + i] for r in rows if len(r) > 3 + i]
    if col and n == "lag":
        print("  consumer lag (messages behind)            mean %.0f, max %.0f" % (sum(col) / len(col), max(col)))
    elif col:
        print("  %-10s RSS start %.1f MB, max %.1f MB, end %.1f MB" % (n, mb(col[0]), mb(max(col)), mb(col[-1])))
EOF
}

# ---- (a) replay ------------------------------------------------------------------------

replay_progress() { awk '/^rchar:/ { print $2 }' "/proc/$1/io" 2>/dev/null; }

run_replay() {
	echo "== (a) replay: $REPLAY_EVENTS events of a $QUEUES-queue center through a pipe"
	local start_ms=1735689600000 # 2025-01-01T00:00:00Z
	local fifo="$OUT/replay.fifo"
	rm -f "$fifo" "$OUT/replay.samples"
	mkfifo "$fifo"
	"$BIN" sim --out ndjson --speed max --hours 87000 --start "$start_ms" --seed "$SEED" --events "$REPLAY_EVENTS" \
		"${SIM_Q[@]}" >"$fifo" 2>"$OUT/replay-sim.log" &
	local sim_pid=$!
	OWNED[$sim_pid]=sim
	"$BIN" replay - --json "$OUT/replay.json" <"$fifo" >"$OUT/replay.out" 2>&1 &
	local rp=$!
	OWNED[$rp]=replay
	local t0=$(date +%s)
	sampler "$rp" "$OUT/replay.samples" replay_progress &
	local sp=$!
	OWNED[$sp]=sampler
	wait "$rp"
	local rc=$?
	unset "OWNED[$rp]"
	wait "$sim_pid"
	local sim_rc=$?
	unset "OWNED[$sim_pid]"
	wait "$sp" 2>/dev/null
	unset "OWNED[$sp]"
	rm -f "$fifo"
	echo "  $(tail -1 "$OUT/replay-sim.log" | sed 's/^ccpulse //'); replay exit $rc in $(($(date +%s) - t0)) s"
	[ "$rc" = 0 ] && [ "$sim_rc" = 0 ] || { tail -5 "$OUT/replay.out"; return 1; }
	# bytes read -> events: the replay reads the whole stream, so the last
	# byte count is REPLAY_EVENTS events
	local total_bytes
	total_bytes=$(awk 'END { print $3 }' "$OUT/replay.samples")
	awk -v tb="$total_bytes" -v n="$REPLAY_EVENTS" '{ $3 = ($3 / tb) * n; print }' "$OUT/replay.samples" >"$OUT/replay.events"
	echo "  (progress from bytes read: sampled ${total_bytes} bytes by the last sample, before the final read)"
	figures "$OUT/replay.events" "$REPLAY_EVENTS" "$WARMUP_DAYS" "$EVENTS_PER_DAY"
	grep -E 'engine|memory' "$OUT/replay.out" | head -3
}

# ---- (b) live --------------------------------------------------------------------------

HTTP_PORT=0
# "consumed lag": contact-topic messages taken by the workers, and the sum of
# the partitions' consumer lag (messages behind the high watermark)
live_progress() {
	curl -s --max-time 0.5 "http://127.0.0.1:$HTTP_PORT/metrics" |
		awk '/^ccpulse_events_consumed_total / { c = $2 } /^ccpulse_consumer_lag/ { l += $2 }
		     END { if (c != "") printf "%s %d\n", c, l }'
}
consumed_now() { live_progress | awk '{ print $1 }'; }

run_live() {
	echo "== (b) live: $LIVE_EVENTS events through broker -> ccpulse run -> redis at ${LIVE_SPEED}x${RUN_PRELOAD:+ (LD_PRELOAD=$RUN_PRELOAD)}"
	"$BIN" broker --partitions 8 >"$OUT/broker.out" 2>"$OUT/broker.err" &
	local broker=$!
	OWNED[$broker]=broker
	local boot="" i
	for ((i = 0; i < 100; i++)); do
		boot=$(sed -n 's/.*bootstrap.servers=//p' "$OUT/broker.out")
		[ -n "$boot" ] && break
		sleep 0.1
	done
	[ -n "$boot" ] || { echo "  broker printed no bootstrap.servers"; return 1; }
	local rport rdir="$OUT/redis"
	mkdir -p "$rdir"
	rport=$(free_port)
	printf 'port %s\nbind 127.0.0.1\ndir %s\nlogfile %s/redis.log\nsave ""\nappendonly no\nprotected-mode no\n' \
		"$rport" "$rdir" "$rdir" >"$rdir/redis.conf"
	redis-server "$rdir/redis.conf" >/dev/null 2>&1 &
	local redis=$!
	OWNED[$redis]=redis
	for ((i = 0; i < 100; i++)); do
		[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
		sleep 0.1
	done
	HTTP_PORT=$(free_port)
	cat >"$OUT/run.yaml" <<-EOF
		idle_advance: 0
		http:
		  addr: 127.0.0.1:$HTTP_PORT
		log:
		  level: info
	EOF
	LD_PRELOAD=$RUN_PRELOAD "$BIN" run -c "$OUT/run.yaml" --brokers "$boot" --redis "redis://127.0.0.1:$rport" \
		--group soak >"$OUT/run.log" 2>&1 &
	local run=$!
	OWNED[$run]=run
	for ((i = 0; i < 300; i++)); do
		grep -q 'assigned [0-9]* partitions of contact-events' "$OUT/run.log" && break
		sleep 0.1
	done
	local days start_ms
	days=$(awk -v n="$LIVE_EVENTS" -v d="$EVENTS_PER_DAY" 'BEGIN { printf "%d", n / d + 2 }')
	start_ms=$(awk -v now="$(date +%s)" -v d="$days" 'BEGIN { printf "%.0f", (now - (d + 1) * 86400) * 1000 }')
	rm -f "$OUT/live.samples"
	sampler "$run" "$OUT/live.samples" live_progress "$broker" "$redis" &
	local sp=$!
	OWNED[$sp]=sampler
	local t0=$(date +%s)
	"$BIN" sim --out kafka --brokers "$boot" --speed "$LIVE_SPEED" --hours $((days * 24)) --start "$start_ms" \
		--seed "$SEED" --events "$LIVE_EVENTS" "${SIM_Q[@]}" >"$OUT/live-sim.log" 2>&1 &
	local sim=$!
	OWNED[$sim]=sim
	wait "$sim"
	local sim_rc=$?
	unset "OWNED[$sim]"
	local produced contact
	produced=$(sed -n 's/.*: \([0-9]*\) events (\([0-9]*\) contact.*/\1 \2/p' "$OUT/live-sim.log" | tail -1)
	contact=${produced#* }
	echo "  $(grep 'events (' "$OUT/live-sim.log" | tail -1 | sed 's/^ccpulse //'), exit $sim_rc"
	# wait until every contact event is consumed (or 120 s without progress)
	local got last=-1 still=0
	while :; do
		got=$(consumed_now)
		got=${got%.*}
		[ "${got:-0}" -ge "${contact:-0}" ] && break
		if [ "${got:-0}" = "$last" ]; then still=$((still + 1)); else still=0; fi
		[ "$still" -ge 120 ] && break
		last=${got:-0}
		sleep 1
	done
	local took=$(($(date +%s) - t0))
	sleep "$REST_S" # samples at rest: what stays once nothing is in flight
	echo "  consumed ${got:-?} of $contact contact events in $took s ($(awk -v n="${got:-0}" -v s="$took" 'BEGIN { printf "%.0f", n / s }')/s)"
	curl -s --max-time 2 "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^ccpulse_(events_duplicate|events_late|backpressure|renders_failed)_total ' | tr '\n' ' '
	echo
	stop_pid "$sp" 2 # the sampler first: the figures end before the shutdown
	stop_pid "$run" 20
	stop_pid "$redis" 5
	stop_pid "$broker" 5
	# progress counts contact-topic messages; scale to all events (agent topic too)
	awk -v c="$contact" -v n="${produced%% *}" '{ $3 = $3 * n / c; print }' "$OUT/live.samples" >"$OUT/live.events"
	figures "$OUT/live.events" "${produced%% *}" "$WARMUP_DAYS" "$EVENTS_PER_DAY" lag broker redis
	awk -v r="$REST_S" -v t="$took" '$1 >= t + 2 { n++; s += $2 } END { if (n) printf "  RSS at rest (the last %d s, nothing in flight)  %8.1f MB\n", r - 2, s / n / 1024 }' "$OUT/live.samples"
	[ "${got:-0}" -ge "${contact:-1}" ]
}

rc=0
echo "soak: $BIN; samples and logs in $OUT$([ "$KEEP_OUT" = 0 ] && echo ' (removed at exit)')"
if [ "$ONLY" != live ]; then run_replay || rc=1; fi
if [ "$ONLY" != replay ]; then run_live || rc=1; fi
exit $rc
