#!/usr/bin/env bash
# Chaos run: does ccpulse's Redis content survive crashes, Redis restarts and
# group membership changes, byte for byte?
#
# Each run starts `ccpulse broker` (8 partitions), two private redis-servers
# (free loopback ports, own temp dirs, no snapshots or AOF while running), a
# producer (`ccpulse sim --out kafka`, a simulated day paced to last about as
# long as the faults), a reference `ccpulse run` (own group, own Redis, never
# disturbed) and a subject group (own group, the other Redis). While the
# traffic flows it injects, in a seeded random order:
#   - kill -9 of a random subject instance, restarted at once (each kill waits
#     until every subject instance has logged "assigned" since its start, then
#     0-2 s, so it lands while the group works; a killed member holds its
#     partitions for the 6 s session timeout, which paces the kills);
#   - restarts of the subject's Redis: stopped (SHUTDOWN SAVE, so its data
#     survives: an outage, not a data loss; see --redis-wipe) for 2-6 s, every
#     third one for 30 s with a kill -9 in the middle of it, then restarted on
#     the same port;
#   - membership changes: a second or third subject instance joins, or one
#     leaves by SIGTERM (at least one stays).
# Then it waits until both Redis servers hold `rendered` = the partition's end
# offset (kcat -Q; scripts/setup.sh installs kcat) for every partition and
# compares them as tests/integration/it_recovery.c does (bench/chaos_redis.py:
# every key under ccpulse: but ccpulse:state:* and the alerts stream, hashes
# without updated_at, streams as sets of entries), printing "identical" or the
# first difference per run and a summary line. Exit 0 only if every run was
# identical and no instance died by itself.
#
# Run (from the repository, after building build-chaos):
#   bash bench/chaos.sh                 # 3 runs, 50 kills, 5 Redis restarts, 10 membership changes each
#   bash bench/chaos.sh --quick         # 1 run, 6 kills, 2 Redis restarts, 3 membership changes (~3 min)
#   bash bench/chaos.sh --runs 1 --kills 20 --seed 7 --hours 12 --speed 100
# Options (or the environment variable in brackets):
#   --runs N [CHAOS_RUNS=3]  --kills N [CHAOS_KILLS=50]  --redis-restarts N [CHAOS_REDIS_RESTARTS=5]
#   --members N [CHAOS_MEMBERS=10]  --hours H [CHAOS_HOURS=24]  --speed X|auto [CHAOS_SPEED=auto:
#   the day lasts about as long as the faults]  --seed N [CHAOS_SEED=time]  --bin PATH [CCP_BIN=
#   build-chaos/ccpulse]  --redis-wipe (restarts lose the data: SHUTDOWN NOSAVE)  --keep (keep the
#   temp dirs: logs, configs)  --verbose (print every fault)
# Only loopback addresses; everything started is stopped by PID on exit.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

RUNS=${CHAOS_RUNS:-3}
KILLS=${CHAOS_KILLS:-50}
REDIS_RESTARTS=${CHAOS_REDIS_RESTARTS:-5}
MEMBERS=${CHAOS_MEMBERS:-10}
HOURS=${CHAOS_HOURS:-24}
SPEED=${CHAOS_SPEED:-auto}
SEED=${CHAOS_SEED:-$(($(date +%s) % 100000))}
BIN=${CCP_BIN:-$repo/build-chaos/ccpulse}
REDIS_WIPE=0
KEEP=0
VERBOSE=0
PARTITIONS=8
LONG_EVERY=3      # every third Redis restart is a long one
LONG_DOWN_S=30
ASSIGN_TIMEOUT_S=90
SETTLE_TIMEOUT_S=240

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case "$1" in
	--runs) RUNS=$2; shift 2 ;;
	--kills) KILLS=$2; shift 2 ;;
	--redis-restarts) REDIS_RESTARTS=$2; shift 2 ;;
	--members) MEMBERS=$2; shift 2 ;;
	--hours) HOURS=$2; shift 2 ;;
	--speed) SPEED=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--bin) BIN=$2; shift 2 ;;
	--quick) RUNS=1; KILLS=6; REDIS_RESTARTS=2; MEMBERS=3; HOURS=6; shift ;;
	--redis-wipe) REDIS_WIPE=1; shift ;;
	--keep) KEEP=1; shift ;;
	--verbose | -v) VERBOSE=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "chaos: unknown argument $1 (--help)" >&2; exit 2 ;;
	esac
done

for tool in redis-server redis-cli python3 kcat; do
	command -v "$tool" >/dev/null || { echo "chaos: $tool not found (bash scripts/setup.sh installs it)" >&2; exit 2; }
done
[ -x "$BIN" ] || { echo "chaos: $BIN not built (cmake -S . -B build-chaos -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build-chaos -j2)" >&2; exit 2; }
HELPER="python3 $here/chaos_redis.py"

# The sim's five queues (billing, tech_support, sales, retention, chat_support)
# land on partitions 1, 2, 0, 2, 6; four more put traffic on every partition
# (3, 4, 5, 7) so every partition is restored, replayed and moved.
SIM_QUEUES=(--queue billing:240:300:24:180 --queue tech_support:180:540:30:240 --queue sales:150:360:18:120
	--queue retention:60:600:12:300 --queue chat_support:200:420:26:600 --queue claims:120:480:16:300
	--queue orders:180:300:18:240 --queue outbound:90:360:10:inf --queue escalations:40:900:10:420)

# ---- process bookkeeping: every PID we start, stopped on exit ------------------------

declare -A OWNED=() # pid -> what
DIRS=()

own() { OWNED[$1]=$2; }
disown_pid() { unset "OWNED[$1]"; }

# Stops one of our PIDs: SIGTERM, then SIGKILL after $2 seconds; reaps it.
stop_pid() {
	local pid=$1 grace=${2:-10} i
	[[ "$pid" =~ ^[1-9][0-9]*$ ]] || return 0 # never 0 (our own process group) or empty
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; disown_pid "$pid"; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	local rc=$?
	disown_pid "$pid"
	return $rc
}

cleanup() {
	local pid
	for pid in "${!OWNED[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${!OWNED[@]}"; do stop_pid "$pid" 5; done
	if [ "$KEEP" = 0 ]; then
		for d in "${DIRS[@]}"; do rm -rf "$d"; done
	elif [ ${#DIRS[@]} -gt 0 ]; then
		echo "chaos: kept ${DIRS[*]}"
	fi
}
trap cleanup EXIT
trap 'echo "chaos: interrupted"; exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

now_ms() { date +%s%3N; }
t0_ms=0
stamp() { printf '[%4ds]' $((($(now_ms) - t0_ms) / 1000)); }
say() { echo "$(stamp) $*" >>"$RUNLOG"; [ "$VERBOSE" = 1 ] && echo "  $(stamp) $*"; return 0; }

rand_between() { echo $(($1 + RANDOM % ($2 - $1 + 1))); } # integer in [lo, hi]
sleep_ms() { sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }')"; }

# ---- Redis -----------------------------------------------------------------------------

# redis_start NAME: starts (or restarts, same port and dir) the server NAME.
declare -A RPORT=() RPID=() RDIR=()
redis_start() {
	local name=$1 dir=${RDIR[$1]} port=${RPORT[$1]} i
	cat >"$dir/redis.conf" <<-EOF
		port $port
		bind 127.0.0.1
		dir $dir
		logfile $dir/redis.log
		daemonize no
		save ""
		appendonly no
		protected-mode no
	EOF
	redis-server "$dir/redis.conf" >>"$dir/stderr.log" 2>&1 &
	RPID[$name]=$!
	own $! "redis-$name"
	for ((i = 0; i < 100; i++)); do
		[ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
		kill -0 "${RPID[$name]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "chaos: redis-server $name did not start on 127.0.0.1:$port (see $dir/redis.log)" >&2
	return 1
}

# redis_stop NAME: SHUTDOWN SAVE (or NOSAVE with --redis-wipe) on our own server,
# then waits for its PID (SIGKILL after 10 s).
redis_stop() {
	local name=$1 mode=SAVE
	[ "$REDIS_WIPE" = 1 ] && mode=NOSAVE
	redis-cli -p "${RPORT[$name]}" shutdown "$mode" >/dev/null 2>&1
	stop_pid "${RPID[$name]}" 10
	[ "$REDIS_WIPE" = 1 ] && rm -f "${RDIR[$name]}/dump.rdb"
	RPID[$name]=0
}

# ---- ccpulse instances -------------------------------------------------------------------

# Slots: ref (reference), s1..s3 (subject group).
declare -A IPID=() IBASE=() IGROUP=() IREDIS=()
assigned_count() {
	local n
	n=$(grep -c 'assigned [0-9]* partitions of contact-events' "$RUNDIR/$1.log" 2>/dev/null)
	echo "${n:-0}"
}

inst_start() {
	local slot=$1
	local cfg="$RUNDIR/$slot.yaml"
	cat >"$cfg" <<-EOF
		kafka:
		  session.timeout.ms: 6000
		  heartbeat.interval.ms: 300
		idle_advance: 0
		checkpoint:
		  interval: 300ms
		http:
		  addr: 127.0.0.1:0
		log:
		  level: info
	EOF
	IBASE[$slot]=$(assigned_count "$slot")
	echo "==== start at $(now_ms) ====" >>"$RUNDIR/$slot.log"
	"$BIN" run -c "$cfg" --brokers "$BOOTSTRAP" --redis "redis://127.0.0.1:${RPORT[${IREDIS[$slot]}]}" \
		--group "${IGROUP[$slot]}" --publish-interval 100ms >>"$RUNDIR/$slot.log" 2>&1 &
	IPID[$slot]=$!
	own $! "ccpulse-$slot"
}

running_subjects() {
	local s
	for s in s1 s2 s3; do [ "${IPID[$s]:-0}" != 0 ] && printf '%s ' "$s"; done
}

# An instance that exited without being asked to is a failure of the run.
check_alive() {
	local s rc
	for s in ref s1 s2 s3; do
		[ "${IPID[$s]:-0}" = 0 ] && continue
		if ! kill -0 "${IPID[$s]}" 2>/dev/null; then
			wait "${IPID[$s]}" 2>/dev/null
			rc=$?
			disown_pid "${IPID[$s]}"
			DIED+=("$s exited by itself (status $rc)")
			say "!! $s exited by itself (status $rc); restarting it"
			IPID[$s]=0
			[ "$s" = ref ] && REF_DISTURBED=1
			inst_start "$s"
		fi
	done
}

# Waits until every running subject instance has logged "assigned" since its start.
wait_group_assigned() {
	local deadline=$(($(date +%s) + ASSIGN_TIMEOUT_S)) s ok
	while :; do
		check_alive
		ok=1
		for s in $(running_subjects); do
			[ "$(assigned_count "$s")" -gt "${IBASE[$s]}" ] || ok=0
		done
		[ "$ok" = 1 ] && return 0
		if [ "$(date +%s)" -ge "$deadline" ]; then
			say "!! the subject group did not settle within ${ASSIGN_TIMEOUT_S}s; going on"
			SLOW_ASSIGN=$((SLOW_ASSIGN + 1))
			return 1
		fi
		sleep 0.1
	done
}

kill9() {
	local slot=$1
	kill -KILL "${IPID[$slot]}" 2>/dev/null
	wait "${IPID[$slot]}" 2>/dev/null
	disown_pid "${IPID[$slot]}"
	inst_start "$slot"
}

# ---- the faults ------------------------------------------------------------------------------

fault_kill() {
	local targets=($(running_subjects))
	local slot=${targets[RANDOM % ${#targets[@]}]}
	say "kill -9 $slot (pid ${IPID[$slot]}), restarted"
	kill9 "$slot"
	N_KILLS=$((N_KILLS + 1))
}

fault_redis() {
	local idx=$N_REDIS down_ms
	if [ $((idx % LONG_EVERY)) = $((LONG_EVERY - 1)) ] || { [ "$REDIS_RESTARTS" -lt "$LONG_EVERY" ] && [ "$idx" = 1 ]; }; then
		down_ms=$((LONG_DOWN_S * 1000))
	else
		down_ms=$(rand_between 2000 6000)
	fi
	say "subject's Redis down for $((down_ms / 1000)) s$([ "$REDIS_WIPE" = 1 ] && echo ', data lost')"
	redis_stop subject
	if [ "$down_ms" -ge 20000 ]; then
		# a crash while Redis is away: the restart must wait for its records
		sleep_ms $((down_ms / 3))
		local targets=($(running_subjects))
		local slot=${targets[RANDOM % ${#targets[@]}]}
		say "  kill -9 $slot while Redis is down, restarted"
		kill9 "$slot"
		N_OUTAGE_KILLS=$((N_OUTAGE_KILLS + 1))
		sleep_ms $((down_ms - down_ms / 3))
	else
		sleep_ms "$down_ms"
	fi
	redis_start subject || return 1
	N_REDIS=$((N_REDIS + 1))
}

fault_member() {
	local running=($(running_subjects)) s
	local n=${#running[@]}
	if [ "$n" -le 1 ] || { [ "$n" -lt 3 ] && [ $((RANDOM % 2)) = 0 ]; }; then
		for s in s1 s2 s3; do
			if [ "${IPID[$s]:-0}" = 0 ]; then
				say "$s joins the subject group"
				inst_start "$s"
				break
			fi
		done
	else
		s=${running[RANDOM % n]}
		say "$s leaves the subject group (SIGTERM)"
		stop_pid "${IPID[$s]}" 20
		local rc=$?
		[ "$rc" = 0 ] || DIED+=("$s exited with status $rc after SIGTERM")
		IPID[$s]=0
	fi
	N_MEMBERS=$((N_MEMBERS + 1))
}

# ---- one run ---------------------------------------------------------------------------------

partition_ends() {
	local p ends=()
	for ((p = 0; p < PARTITIONS; p++)); do
		ends+=("$(kcat -b "$BOOTSTRAP" -Q -t "contact-events:$p:-1" 2>/dev/null | sed -n 's/.* offset \([0-9-]*\).*/\1/p')")
	done
	echo "${ends[*]}"
}

# caught_up PORT "ENDS": every partition with messages is rendered to its end.
caught_up() {
	local r e i=0 ok=0
	read -ra r <<<"$($HELPER rendered "$1" "$PARTITIONS")"
	read -ra e <<<"$2"
	for ((i = 0; i < PARTITIONS; i++)); do
		[ "${e[i]:-x}" = 0 ] && continue
		[ "${r[i]:-}" = "${e[i]:-y}" ] || { LAG="127.0.0.1:$1 partition $i rendered ${r[i]:-?} of ${e[i]:-?}"; ok=1; }
	done
	return $ok
}

one_run() {
	local run=$1 seed=$2
	RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/ccpulse-chaos.XXXXXX")
	DIRS+=("$RUNDIR")
	RUNLOG=$RUNDIR/chaos.log
	RANDOM=$seed
	N_KILLS=0 N_REDIS=0 N_MEMBERS=0 N_OUTAGE_KILLS=0 SLOW_ASSIGN=0 REF_DISTURBED=0
	DIED=()
	IPID=([ref]=0 [s1]=0 [s2]=0 [s3]=0)
	t0_ms=$(now_ms)

	# the broker
	"$BIN" broker --partitions "$PARTITIONS" >"$RUNDIR/broker.out" 2>"$RUNDIR/broker.err" &
	local broker_pid=$!
	own $broker_pid broker
	BOOTSTRAP=
	for ((i = 0; i < 100; i++)); do
		[ -n "$BOOTSTRAP" ] && break
		sleep 0.1
		BOOTSTRAP=$(sed -n 's/.*bootstrap.servers=//p' "$RUNDIR/broker.out")
	done
	[ -n "$BOOTSTRAP" ] || { echo "run $run: the broker printed no bootstrap.servers"; return 1; }

	# two Redis servers
	local name
	for name in subject reference; do
		RDIR[$name]=$RUNDIR/redis-$name
		mkdir -p "${RDIR[$name]}"
		local tries
		for tries in 1 2 3; do
			RPORT[$name]=$(free_port)
			redis_start "$name" && break
			stop_pid "${RPID[$name]}" 2
		done
	done

	# the fault schedule: a seeded shuffle
	local faults=() k j t
	for ((k = 0; k < KILLS; k++)); do faults+=(kill); done
	for ((k = 0; k < REDIS_RESTARTS; k++)); do faults+=(redis); done
	for ((k = 0; k < MEMBERS; k++)); do faults+=(member); done
	for ((k = ${#faults[@]} - 1; k > 0; k--)); do
		j=$((RANDOM % (k + 1)))
		t=${faults[k]} faults[k]=${faults[j]} faults[j]=$t
	done

	# traffic paced to last about as long as the faults take (measured: ~11 s a
	# kill, the downtime plus ~3 s a Redis restart, ~8 s a membership change)
	local n_long=$((REDIS_RESTARTS / LONG_EVERY))
	[ "$REDIS_RESTARTS" -gt 1 ] && [ "$REDIS_RESTARTS" -lt "$LONG_EVERY" ] && n_long=1
	local est_s=$((20 + KILLS * 11 + n_long * (LONG_DOWN_S + 3) + (REDIS_RESTARTS - n_long) * 7 + MEMBERS * 8))
	local speed=$SPEED
	[ "$speed" = auto ] && speed=$(awk -v h="$HOURS" -v s="$est_s" 'BEGIN { printf "%.1f", h * 3600 / s }')
	local start_ms=$(awk -v now="$(date +%s)" -v h="$HOURS" 'BEGIN { printf "%.0f", (now - (h + 1) * 3600) * 1000 }')

	IGROUP=([ref]=g-reference [s1]=g-subject [s2]=g-subject [s3]=g-subject)
	IREDIS=([ref]=reference [s1]=subject [s2]=subject [s3]=subject)
	inst_start ref
	inst_start s1

	"$BIN" sim --out kafka --brokers "$BOOTSTRAP" --hours "$HOURS" --start "$start_ms" --seed "$seed" \
		--speed "$speed" "${SIM_QUEUES[@]}" >"$RUNDIR/sim.log" 2>&1 &
	local sim_pid=$!
	own $sim_pid sim
	echo "run $run/$RUNS: seed $seed, $HOURS h of traffic at ${speed}x (about ${est_s} s), ${#faults[@]} faults, logs in $RUNDIR"
	say "broker $BOOTSTRAP, redis subject :${RPORT[subject]} reference :${RPORT[reference]}"

	local done_n=0 f
	for f in "${faults[@]}"; do
		wait_group_assigned
		sleep_ms "$(rand_between 0 2000)"
		check_alive
		"fault_$f"
		done_n=$((done_n + 1))
		if [ $((done_n % 10)) = 0 ] && [ "$VERBOSE" = 0 ]; then
			echo "  $(stamp) $done_n/${#faults[@]} faults (kills $N_KILLS, redis restarts $N_REDIS, membership changes $N_MEMBERS)$(kill -0 $sim_pid 2>/dev/null || echo ', traffic over')"
		fi
	done
	wait_group_assigned
	local traffic="while traffic flowed"
	kill -0 $sim_pid 2>/dev/null || traffic="some after the traffic ended"
	say "faults done ($traffic); waiting for the producer"
	wait $sim_pid
	local sim_rc=$?
	disown_pid $sim_pid
	local sim_line=$(grep 'events (' "$RUNDIR/sim.log" | tail -1 | sed 's/^ccpulse sim: //')
	[ "$sim_rc" = 0 ] || { echo "run $run: the producer failed (status $sim_rc): $(tail -2 "$RUNDIR/sim.log")"; return 1; }

	local ends=$(partition_ends)
	say "partition ends: $ends"
	local deadline=$(($(date +%s) + SETTLE_TIMEOUT_S)) verdict="" settled_at caught_at=0
	LAG=""
	while :; do
		check_alive
		if caught_up "${RPORT[subject]}" "$ends" && caught_up "${RPORT[reference]}" "$ends"; then
			verdict=$($HELPER compare "${RPORT[subject]}" "${RPORT[reference]}")
			[[ "$verdict" == identical* ]] && break
			# the agent table and totals settle a render or two after the
			# partitions: look again for up to 30 s
			[ "$caught_at" = 0 ] && caught_at=$(date +%s)
			[ $(($(date +%s) - caught_at)) -ge 30 ] && break
		else
			verdict="not caught up within ${SETTLE_TIMEOUT_S} s: $LAG"
		fi
		[ "$(date +%s)" -ge "$deadline" ] && break
		sleep 0.5
	done
	settled_at=$(stamp)
	local restores=$(cat "$RUNDIR"/s?.log 2>/dev/null | grep -c 'checkpoint restored')
	local total_faults="kills $N_KILLS (+$N_OUTAGE_KILLS during Redis outages), redis restarts $N_REDIS, membership changes $N_MEMBERS"
	echo "  $settled_at $total_faults, $traffic; $restores partition restores from a checkpoint; produced $sim_line"

	local s
	for s in ref s1 s2 s3; do
		[ "${IPID[$s]}" != 0 ] && { stop_pid "${IPID[$s]}" 20; IPID[$s]=0; }
	done
	stop_pid "${RPID[subject]}" 5
	stop_pid "${RPID[reference]}" 5
	stop_pid $broker_pid 5

	local ok=1
	[[ "$verdict" == identical* ]] || ok=0
	[ ${#DIED[@]} -eq 0 ] || ok=0
	[ "$REF_DISTURBED" = 0 ] || ok=0
	if [ "$ok" = 1 ]; then
		echo "run $run: $verdict"
	else
		echo "run $run: DIFFERENT: $verdict"
		for s in "${DIED[@]}"; do echo "  $s"; done
		[ "$KEEP" = 1 ] || echo "  (--keep keeps the logs)"
	fi
	[ "$ok" = 1 ]
}

# ---- main ----------------------------------------------------------------------------------------

echo "chaos: $RUNS run(s), $KILLS kills, $REDIS_RESTARTS redis restarts$([ "$REDIS_WIPE" = 1 ] && echo ' (data lost)'), $MEMBERS membership changes each; seed $SEED; $BIN"
identical=0
for ((run = 1; run <= RUNS; run++)); do
	if one_run "$run" $((SEED + run - 1)); then
		identical=$((identical + 1))
	fi
done
echo "chaos: $identical of $RUNS runs identical ($KILLS kills, $REDIS_RESTARTS redis restarts, $MEMBERS membership changes each)"
[ "$identical" = "$RUNS" ]
