#!/usr/bin/env bash
# bench/run.sh — end-to-end load benchmark of the h2gate gateway (loopback only).
#
# What it does
#   1. Installs h2load (Debian `nghttp2-client`), wrk and curl if they are missing
#      (`apt-get update` once, then `apt-get install`; uses sudo when not root).
#   2. Builds `cargo build --release` (skip with BUILD=0).
#   3. Starts `h2gate demo-backend` (gRPC over h2c) on a free 127.0.0.1 port, and
#      `h2gate serve --config <temp config>` on another free 127.0.0.1 port: TLS with the
#      generated self-signed certificate, `[[upstreams]]` pointing at that backend,
#      descriptors compiled from proto/; and a second gateway, the same but `plaintext = true`
#      (as behind a TLS-terminating load balancer), for the h2c_get and h1c_get loads. Waits
#      for /healthz and checks one answer per route.
#   4. Runs bounded loads (each DURATION seconds), REPS times:
#        h2_get        h2load -c16 -m10   GET  /v1/users/42            HTTP/2 + TLS
#        h2c_get       h2load -c16 -m10   GET  /v1/users/42            plaintext gateway, HTTP/2 prior knowledge
#        h2_post_100B  h2load -c16 -m10   POST /v1/greeter:sayHello    ~100-byte JSON body
#        h2_post_1KiB  h2load -c16 -m10   POST /v1/greeter:sayHello    ~1 KiB JSON body
#        h1_get        wrk    -t1 -c16    GET  /v1/users/42            HTTP/1.1 keep-alive + TLS
#        h1c_get       wrk    -t1 -c16    GET  /v1/users/42            plaintext gateway, HTTP/1.1 keep-alive
#        h2_get_lat    h2load -c16 -m1    GET  /v1/users/42            moderate load, for latency
#        grpc_direct   h2load -c16 -m10   POST /demo.v1.UserService/GetUser straight to the backend (h2c)
#        grpc_direct_lat h2load -c16 -m1  same, moderate load (baseline for the added latency)
#        h2_get_rate   h2load -c16 -m1 --rps LAT_RPS  GET at a fixed rate (16 x 250 = 4000 req/s by
#        grpc_direct_rate                 default), gateway and direct: latency well below
#                                         saturation (closed-loop -m1 still saturates 2 cores)
#      Server streaming (skipped when `h2gate routes` lacks /v1/users:stream or the download
#      route): each stream load runs STREAMS_TOTAL streams, STREAM_CONC at a time (h2load
#      -c STREAM_CONC -m1 -n STREAMS_TOTAL: one stream per connection, read as fast as h2load
#      can, windows 2^30-1), the same streams gateway side and direct side:
#        h2_stream_users    GET /v1/users:stream?count=STREAM_COUNT   NDJSON, ~215-byte lines
#        h2_stream_media    GET /v1/media/clip:download?sizeBytes=STREAM_BYTES
#                           NDJSON, one 64 KiB chunk per line, data in base64
#        grpc_stream_users  POST /demo.v1.UserService/StreamUsers {count} straight to the backend
#        grpc_stream_media  POST /demo.v1.MediaService/Download {name:"clip", size_bytes} (h2c)
#      STREAMS_TOTAL is calibrated once per load before the repetitions (one warm-up round of
#      STREAM_CONC streams, one timed round) so that a run lasts about DURATION seconds; every
#      repetition then runs the same number of streams. Before that, one stream of each kind is
#      read whole with curl and checked (gateway: every line a {"result"}, the right count, no
#      {"error"}, the base64 decoding to exactly STREAM_BYTES; direct: grpc-status 0); its size
#      is the expected size: a run whose DATA bytes differ from streams x that size (a stream
#      cut short or ended by an error line) counts as errors.
#      Figures: messages/s (messages / h2load wall time), MB/s of DATA payload delivered to the
#      client (NDJSON for the gateway, gRPC frames for direct; MB = 10^6 bytes), for the media
#      loads also the decoded payload rate (STREAM_BYTES x streams / time), gateway and backend
#      CPU per streamed message (µs), gateway VmHWM; per repetition the ratios gateway/direct
#      (users: messages/s; media: decoded MB/s).
#      For each load it prints requests/s, p50/p99 latency, the gateway's CPU time per
#      request (utime+stime delta of /proc/<pid>/stat / completed requests, µs), the backend's
#      CPU per request, the gateway's peak RSS (VmHWM), errors, and how the cores were shared
#      during the run (gateway, backend, load generator, "other" = the rest of the machine's
#      busy time from /proc/stat: other people's work; above 25% of a core a warning says the
#      figures are disturbed — rerun then); per repetition the ratio gateway/direct-gRPC
#      throughput (h2_get / grpc_direct) and the latency the gateway adds (p50/p99 of
#      h2_get_lat - grpc_direct_lat, and of h2_get_rate - grpc_direct_rate), and the gateway CPU
#      per request in plaintext over that with TLS (h2c_get / h2_get, h1c_get / h1_get).
#      At the end: one table with min/median/max over the repetitions for every figure.
#   SOAK mode (SOAK_SECS>0): instead of the suite, runs the h2_get load for SOAK_SECS
#      seconds and samples the gateway's RSS every 10 s, to show it stays flat. With SOAK_MIX=1
#      the load is every call shape at once instead (bench/soak_mix.rs, SOAK_TASKS tasks: unary
#      GET and POST, server streams, client streams, WebSocket chats, bad input, clients that
#      vanish mid-stream), and open descriptors are sampled too.
#
# Latencies: h2load prints no percentiles, so every h2load run writes --log-file (per-request
# µs) and p50/p99 are computed with sort/awk over the 2xx rows; wrk's come from --latency.
# Everything (load generator, gateway, backend) shares the machine's cores: figures are for
# comparing builds on the same machine, not absolute capacity.
#
# Usage
#   bash bench/run.sh                          # REPS=3 DURATION=8
#   REPS=1 DURATION=5 bash bench/run.sh        # quick
#   SOAK_SECS=120 bash bench/run.sh            # soak: RSS every 10 s
#   SOAK_MIX=1 SOAK_SECS=600 bash bench/run.sh # mixed soak: every call shape, RSS and fds
#   ONLY=stream REPS=1 DURATION=5 bash bench/run.sh   # the streaming loads alone
#
# Environment
#   REPS (3)  DURATION (8, seconds per load)  SOAK_SECS (0 = off)  BUILD (1)
#   LAT_RPS (250: requests/s per client for the *_rate loads; 0 skips them)
#   KEEP_TMP (0; 1 keeps the temp dir with the config, logs and h2load/wrk outputs)
#   RESULTS_TSV (unset; a path to copy the raw figures to: rep, load, figure, value, unit)
#   ONLY (unset; "stream" runs only the four streaming loads, skipping the unary ones)
#   STREAM_CONC (4: concurrent streams)  STREAM_COUNT (100000: users per users stream)
#   STREAM_BYTES (67108864 = 64 MiB per download stream, 1024 chunks of 64 KiB)
#   RUST_LOG is passed through to both processes (h2gate's default is `info`).
set -euo pipefail

REPS=${REPS:-3}
DURATION=${DURATION:-8}
SOAK_SECS=${SOAK_SECS:-0}
SOAK_MIX=${SOAK_MIX:-0}
SOAK_TASKS=${SOAK_TASKS:-16}
LAT_RPS=${LAT_RPS:-250}
BUILD=${BUILD:-1}
KEEP_TMP=${KEEP_TMP:-0}
ONLY=${ONLY:-}
STREAM_CONC=${STREAM_CONC:-4}
STREAM_COUNT=${STREAM_COUNT:-100000}
STREAM_BYTES=${STREAM_BYTES:-67108864}
STREAM_CHUNK=65536 # the demo Download's default chunk_bytes
CLIENTS=16
STREAMS=10
HOST=127.0.0.1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release/h2gate

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -z $ONLY || $ONLY == stream ]] || die "ONLY must be unset or \"stream\", got \"$ONLY\""
for v in STREAM_CONC STREAM_COUNT STREAM_BYTES; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got \"${!v}\""
done
((STREAM_COUNT <= 1000000)) || die "STREAM_COUNT is at most 1000000 (the demo's limit)"

# ---------------------------------------------------------------- tools
install_tools() {
    local need=()
    command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
    command -v wrk >/dev/null 2>&1 || need+=(wrk)
    command -v curl >/dev/null 2>&1 || need+=(curl)
    ((${#need[@]} == 0)) && return 0
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "need root or sudo to install: ${need[*]}"
        sudo=(sudo)
    fi
    log "installing ${need[*]}"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
}

# ---------------------------------------------------------------- processes
TMP=$(mktemp -d "${TMPDIR:-/tmp}/h2gate-bench.XXXXXX")
GW_PID=""
PLAIN_PID=""
BE_PID=""
LOAD_PID=""

stop_pid() {
    local pid=$1
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$LOAD_PID"
    stop_pid "$GW_PID"
    stop_pid "$PLAIN_PID"
    stop_pid "$BE_PID"
    if [[ $KEEP_TMP == 1 || $rc -ne 0 ]]; then
        log "logs and configs kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free loopback port: random candidates, checked by a failed connect (nothing listening).
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

wait_tcp() { # port seconds
    local deadline=$((SECONDS + $2))
    until (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# utime+stime in clock ticks (fields 14 and 15; the name field may hold spaces).
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    # after "pid (comm) ", field 3 is the state: utime/stime are the 12th/13th words here.
    awk '{ print $12 + $13 }' <<<"$stat"
}

# Busy ticks of the whole machine (user nice system irq softirq steal), from /proc/stat.
machine_busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# This script's own CPU plus that of its waited-for children (the load generators): utime,
# stime, cutime, cstime of $$.
client_ticks() {
    local stat
    stat=$(<"/proc/$$/stat")
    stat=${stat##*) }
    awk '{ print $12 + $13 + $14 + $15 }' <<<"$stat"
}

now_ns() { date +%s%N; }

# CPU accounting around one load: sample_begin, run it, sample_end. sample_end sets GW_TICKS,
# BE_TICKS (gateway, backend) and CPU_LINE / OTHER_PCT: the share of a core used by the
# gateway, the backend, the load generator and everything else on the machine ("other": other
# people's work disturbing the figures).
sample_begin() {
    S_GW=$(cpu_ticks "$GW_PID") S_BE=$(cpu_ticks "$BE_PID")
    S_CL=$(client_ticks) S_M=$(machine_busy) S_T=$(now_ns)
}

sample_end() {
    local gw be cl m t
    gw=$(cpu_ticks "$GW_PID") be=$(cpu_ticks "$BE_PID") cl=$(client_ticks) m=$(machine_busy) t=$(now_ns)
    GW_TICKS=$((gw - S_GW)) BE_TICKS=$((be - S_BE))
    local cl_ticks=$((cl - S_CL)) m_ticks=$((m - S_M))
    read -r CPU_LINE OTHER_PCT < <(awk -v g="$GW_TICKS" -v b="$BE_TICKS" -v c="$cl_ticks" -v m="$m_ticks" \
        -v ns=$((t - S_T)) -v hz="$CLK_TCK" 'BEGIN {
            k = 100 / (ns / 1e9 * hz); o = m - g - b - c; if (o < 0) o = 0
            printf "gw:%.0f%%,backend:%.0f%%,client:%.0f%%,other:%.0f%% %.0f\n", g * k, b * k, c * k, o * k, o * k }')
}

status_kib() { # pid field (VmHWM, VmRSS)
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# ---------------------------------------------------------------- results
RESULTS=$TMP/results.tsv
: >"$RESULTS"
REP=0

record() { # load figure value unit
    printf '%s\t%s\t%s\t%s\t%s\n' "$REP" "$1" "$2" "$3" "$4" >>"$RESULTS"
}

get_value() { # load figure  (this repetition)
    awk -F'\t' -v r="$REP" -v l="$1" -v f="$2" '$1 == r && $2 == l && $3 == f { print $4 }' "$RESULTS"
}

# p50 and p99 (µs) of the 2xx rows of an h2load --log-file.
log_percentiles() {
    awk -F'\t' '$2 >= 200 && $2 < 300 { print $3 }' "$1" | sort -n | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "nan nan"; exit }
            i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
            i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
            print v[i50], v[i99]
        }'
}

# wrk latency ("1.23ms", "850.00us", "1.02s") to µs.
to_us() {
    awk -v s="$1" 'BEGIN {
        n = s + 0
        if (s ~ /us$/) m = 1; else if (s ~ /ms$/) m = 1000; else if (s ~ /m$/) m = 60000000;
        else if (s ~ /s$/) m = 1000000; else m = 1
        printf "%.0f", n * m }'
}

# Prints and records the figures of one load.
report() { # load rps p50 p99 requests errors  (after sample_end)
    local load=$1 rps=$2 p50=$3 p99=$4 nreq=$5 errors=$6 gw_ticks=$GW_TICKS be_ticks=$BE_TICKS
    local gw_cpu be_cpu hwm
    gw_cpu=$(awk -v t="$gw_ticks" -v n="$nreq" -v hz="$CLK_TCK" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "nan" }')
    be_cpu=$(awk -v t="$be_ticks" -v n="$nreq" -v hz="$CLK_TCK" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "nan" }')
    hwm=$(status_kib "$GW_PID" VmHWM)
    record "$load" rps "$rps" req/s
    record "$load" p50 "$p50" us
    record "$load" p99 "$p99" us
    record "$load" errors "$errors" count
    record "$load" backend_cpu_per_req "$be_cpu" us
    record "$load" other_cpu "$OTHER_PCT" "% of a core"
    if [[ $load != grpc_direct* ]]; then
        record "$load" gateway_cpu_per_req "$gw_cpu" us
        record "$load" gateway_peak_rss "$hwm" KiB
    else
        gw_cpu="-"
    fi
    printf '  %-16s %10s req/s  p50 %6s us  p99 %6s us  cpu/req gw %5s us backend %5s us  gw VmHWM %s KiB  n %s  errors %s  cpu %s\n' \
        "$load" "$rps" "$p50" "$p99" "$gw_cpu" "$be_cpu" "$hwm" "$nreq" "$errors" "$CPU_LINE"
    if [[ $errors != 0 ]]; then
        log "warning: $load had $errors failed or non-2xx requests"
    fi
    if ((OTHER_PCT > 25)); then
        log "warning: $load: other processes used ${OTHER_PCT}% of a core during the run; its figures are disturbed"
    fi
}

# h2load run: load name, then h2load arguments (URI last). Parses its summary and log file.
run_h2load() {
    local load=$1
    shift
    local out=$TMP/$load.$REP.out reqlog=$TMP/$load.$REP.log
    sample_begin
    h2load -D "$DURATION" --log-file="$reqlog" "$@" >"$out" 2>&1 || {
        cat "$out" >&2
        die "h2load failed for $load"
    }
    sample_end
    # h2load: "succeeded" are 2xx/3xx answers, "failed" covers non-2xx/3xx, errors and timeouts.
    local rps succeeded failed n3xx
    rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$out")
    read -r succeeded failed < <(awk '/^requests:/ {
        for (i = 2; i < NF; i++) { if ($(i+1) ~ /^succeeded/) s = $i; if ($(i+1) ~ /^failed/) f = $i }
        print s + 0, f + 0 }' "$out")
    n3xx=$(awk '/^status codes:/ { print $5 + 0 }' "$out")
    local p50 p99
    read -r p50 p99 < <(log_percentiles "$reqlog")
    report "$load" "$rps" "$p50" "$p99" "$succeeded" $((failed + n3xx))
    rm -f "$reqlog"
}

run_wrk() { # load url
    local load=$1 url=$2
    local out=$TMP/$load.$REP.out
    sample_begin
    wrk -t1 -c"$CLIENTS" -d"${DURATION}s" --latency "$url" >"$out" 2>&1 || {
        cat "$out" >&2
        die "wrk failed for $load"
    }
    sample_end
    local rps total non2xx sockerr p50 p99
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    total=$(awk '/ requests in / { print $1 }' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    sockerr=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$out")
    p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$out")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")
    report "$load" "$rps" "$p50" "$p99" "$total" $((${non2xx:-0} + ${sockerr:-0}))
}

# ---------------------------------------------------------------- streaming
# Protobuf varint of $1, as printf escapes.
varint() {
    local v=$1 out=""
    while ((v >= 128)); do
        out+=$(printf '\\x%02x' $(((v & 127) | 128)))
        v=$((v >> 7))
    done
    printf '%s\\x%02x' "$out" "$v"
}

# Writes a gRPC frame to $1: flag 0 (uncompressed), big-endian length, then the message given
# as printf escapes in $2.
grpc_frame() { # file message
    local len
    # shellcheck disable=SC2059
    len=$(printf "$2" | wc -c)
    # shellcheck disable=SC2059
    printf "\\x00$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((len >> 24 & 255)) $((len >> 16 & 255)) \
        $((len >> 8 & 255)) $((len & 255)))$2" >"$1"
}

# h2load over $2 streams, STREAM_CONC connections with one stream at a time each; output in $1.
# Sets ST_SECS (h2load's wall time), ST_OK (2xx streams) and ST_DATA (DATA payload bytes).
h2load_streams() { # out streams h2load-args...
    local out=$1 streams=$2
    shift 2
    timeout $((DURATION * 10 + 60)) h2load -n "$streams" -c "$STREAM_CONC" -m 1 "$@" >"$out" 2>&1 || {
        cat "$out" >&2
        die "h2load failed or timed out: $*"
    }
    ST_SECS=$(awk '/^finished in/ { t = $3; sub(",", "", t)
        if (t ~ /ms$/) t = t / 1e3; else if (t ~ /us$/) t = t / 1e6; else t = t + 0
        printf "%.6f\n", t }' "$out")
    ST_OK=$(awk '/^requests:/ { for (i = 2; i < NF; i++) if ($(i+1) ~ /^succeeded/) s = $i; print s + 0 }' "$out")
    ST_DATA=$(sed -n 's/^traffic:.*(\([0-9]*\)) data.*/\1/p' "$out")
    [[ -n $ST_SECS && -n $ST_DATA ]] || { cat "$out" >&2; die "cannot parse h2load output $out"; }
}

# Number of streams for a run of about DURATION s: a warm-up round of STREAM_CONC streams, then
# a timed one; the result is a multiple of STREAM_CONC, at most 10000. Sets CAL_STREAMS.
calibrate_streams() { # name h2load-args...
    local name=$1 round
    shift
    for round in warmup timed; do
        h2load_streams "$TMP/$name.calibrate-$round.out" "$STREAM_CONC" "$@"
        ((ST_OK == STREAM_CONC)) || { cat "$TMP/$name.calibrate-$round.out" >&2; die "$name: calibration streams failed"; }
    done
    CAL_STREAMS=$(awk -v d="$DURATION" -v c="$STREAM_CONC" -v t="$ST_SECS" 'BEGIN {
        k = (t > 0) ? int(d / t + 0.5) * c : c; if (k < c) k = c; if (k > 10000) k = int(10000 / c) * c
        print k }')
    log "$name: $STREAM_CONC streams in $ST_SECS s -> $CAL_STREAMS streams per run"
}

# One streaming load; prints and records its figures. payload = decoded bytes per stream (0: do
# not report a payload rate); data = expected DATA bytes per stream (from the checked stream).
run_stream() { # load side(gateway|direct) streams msgs-per-stream payload-per-stream data-per-stream h2load-args...
    local load=$1 side=$2 streams=$3 per_msgs=$4 per_payload=$5 per_data=$6
    shift 6
    sample_begin
    h2load_streams "$TMP/$load.$REP.out" "$streams" "$@"
    sample_end
    local errors=$((streams - ST_OK)) expect=$((ST_OK * per_data))
    if ((ST_DATA != expect)); then
        log "warning: $load: $ST_DATA DATA bytes, expected $expect ($ST_OK x $per_data): streams cut short or ended by an error"
        errors=$((errors + 1))
    fi
    local msgs=$((ST_OK * per_msgs)) msg_s mb_s pl_s gw_cpu be_cpu hwm
    read -r msg_s mb_s pl_s gw_cpu be_cpu < <(awk -v n="$msgs" -v t="$ST_SECS" -v d="$ST_DATA" \
        -v p=$((ST_OK * per_payload)) -v g="$GW_TICKS" -v b="$BE_TICKS" -v hz="$CLK_TCK" 'BEGIN {
            if (t <= 0 || n <= 0) { print "nan nan nan nan nan"; exit }
            printf "%.0f %.1f %.1f %.2f %.2f\n", n / t, d / t / 1e6, p / t / 1e6, g * 1e6 / hz / n, b * 1e6 / hz / n }')
    hwm=$(status_kib "$GW_PID" VmHWM)
    record "$load" msg_per_s "$msg_s" msg/s
    record "$load" MB_per_s "$mb_s" "MB/s (DATA)"
    local payload_txt=""
    if ((per_payload > 0)); then
        record "$load" payload_MB_per_s "$pl_s" "MB/s (decoded)"
        payload_txt=" (decoded $pl_s MB/s)"
    fi
    record "$load" backend_cpu_per_msg "$be_cpu" us
    record "$load" errors "$errors" count
    record "$load" other_cpu "$OTHER_PCT" "% of a core"
    if [[ $side == gateway ]]; then
        record "$load" gateway_cpu_per_msg "$gw_cpu" us
        record "$load" gateway_peak_rss "$hwm" KiB
    else
        gw_cpu="-"
    fi
    printf '  %-17s %9s msg/s %7s MB/s%s  cpu/msg gw %5s us backend %5s us  gw VmHWM %s KiB  %s streams x %s msg in %s s  errors %s  cpu %s\n' \
        "$load" "$msg_s" "$mb_s" "$payload_txt" "$gw_cpu" "$be_cpu" "$hwm" "$ST_OK" "$per_msgs" "${ST_SECS%????}" "$errors" "$CPU_LINE"
    if ((errors != 0)); then
        log "warning: $load had $errors failed or incomplete streams"
    fi
    if ((OTHER_PCT > 25)); then
        log "warning: $load: other processes used ${OTHER_PCT}% of a core during the run; its figures are disturbed"
    fi
}

# ---------------------------------------------------------------- setup
install_tools
CLK_TCK=$(getconf CLK_TCK)

if [[ $BUILD == 1 ]]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release)
fi
[[ -x $BIN ]] || die "$BIN not found (build first, or unset BUILD=0)"

BE_PORT=$(free_port)
GW_PORT=$(free_port)
while [[ $GW_PORT == "$BE_PORT" ]]; do GW_PORT=$(free_port); done
PLAIN_PORT=$(free_port)
while [[ $PLAIN_PORT == "$BE_PORT" || $PLAIN_PORT == "$GW_PORT" ]]; do PLAIN_PORT=$(free_port); done

CONFIG=$TMP/gateway.toml
cat >"$CONFIG" <<EOF
# generated by bench/run.sh
[server]
listen = "$HOST:$GW_PORT"
# no tls_cert/tls_key: TLS with a self-signed certificate generated at start-up

[descriptors]
include = ["$ROOT/demo/proto"]
protos = ["demo/v1/user.proto", "demo/v1/greeter.proto", "demo/v1/media.proto", "demo/v1/chat.proto"]

[[upstreams]]
name = "demo"
endpoints = ["http://$HOST:$BE_PORT"]
services = ["demo.v1.UserService", "demo.v1.Greeter", "demo.v1.MediaService", "demo.v1.ChatService"]
timeout_ms = 15000

[[http_rules]]
selector = "demo.v1.Greeter.SayHello"
post = "/v1/greeter:sayHello"
body = "*"
additional_bindings = [{ get = "/v1/greeter/{name}" }]
EOF

export NO_COLOR=1
log "starting demo backend on $HOST:$BE_PORT"
"$BIN" demo-backend --listen "$HOST:$BE_PORT" >"$TMP/backend.log" 2>&1 &
BE_PID=$!
wait_tcp "$BE_PORT" 30 || { cat "$TMP/backend.log" >&2; die "backend did not listen"; }

wait_healthy() { # pid url log
    local deadline=$((SECONDS + 60))
    until curl -skf -o /dev/null "$2/healthz"; do
        kill -0 "$1" 2>/dev/null || { cat "$3" >&2; die "gateway exited"; }
        ((SECONDS < deadline)) || { cat "$3" >&2; die "gateway not healthy after 60 s"; }
        sleep 0.2
    done
}

log "starting gateway on https://$HOST:$GW_PORT"
"$BIN" serve --config "$CONFIG" >"$TMP/gateway.log" 2>&1 &
GW_PID=$!
GW=https://$HOST:$GW_PORT
BE=http://$HOST:$BE_PORT
wait_healthy "$GW_PID" "$GW" "$TMP/gateway.log"

# The same gateway in plaintext: HTTP/2 with prior knowledge (h2c) or HTTP/1.1.
PLAIN_CONFIG=$TMP/gateway-plaintext.toml
sed "s|^listen = .*|listen = \"$HOST:$PLAIN_PORT\"\nplaintext = true|" "$CONFIG" >"$PLAIN_CONFIG"
log "starting plaintext gateway on http://$HOST:$PLAIN_PORT"
"$BIN" serve --config "$PLAIN_CONFIG" >"$TMP/gateway-plaintext.log" 2>&1 &
PLAIN_PID=$!
GWC=http://$HOST:$PLAIN_PORT
wait_healthy "$PLAIN_PID" "$GWC" "$TMP/gateway-plaintext.log"

# Request bodies.
BODY_100=$TMP/hello-100.json
BODY_1K=$TMP/hello-1k.json
GRPC_FRAME=$TMP/get-user-42.grpc
pad() { head -c "$1" /dev/zero | tr '\0' 'x'; }
printf '{"name":"Ada Lovelace %s"}' "$(pad 76)" >"$BODY_100"  # 100 bytes
printf '{"name":"Ada Lovelace %s"}' "$(pad 1000)" >"$BODY_1K" # 1024 bytes
# gRPC frame: compression flag 0, length 4 (big-endian), GetUserRequest{user_id: "42"}.
printf '\x00\x00\x00\x00\x04\x0a\x0242' >"$GRPC_FRAME"
[[ $(wc -c <"$GRPC_FRAME") == 9 ]] || die "bad gRPC frame"

# Sanity checks: each route answers 200 with the expected content.
check_http() { # description expected-substring curl-args...
    local what=$1 expect=$2
    shift 2
    local body code
    body=$(curl -sk --http2 -w '\n%{http_code} %{http_version}' "$@")
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    [[ $code == "200 2" && $body == *"$expect"* ]] || die "$what: got '$code' '$body'"
    log "ok: $what -> ${body:0:80}"
}
check_http "GET /v1/users/42" '"userId":"42"' "$GW/v1/users/42"
check_http "POST /v1/greeter:sayHello" '"message":"Hello, Ada' -H 'content-type: application/json' \
    --data-binary @"$BODY_100" "$GW/v1/greeter:sayHello"
check_http "GET /v1/users/42 (plaintext, h2c)" '"userId":"42"' --http2-prior-knowledge "$GWC/v1/users/42"
grpc_hdr=$TMP/grpc-headers.txt
grpc_body=$(curl -s --http2-prior-knowledge -D "$grpc_hdr" -H 'content-type: application/grpc' \
    -H 'te: trailers' --data-binary @"$GRPC_FRAME" "$BE/demo.v1.UserService/GetUser" | tr -d '\0' | tr -c '[:print:]' '.')
grep -qi '^grpc-status: *0' "$grpc_hdr" && [[ $grpc_body == *Ada* ]] ||
    die "direct gRPC GetUser failed: $(tr -d '\r' <"$grpc_hdr" | tr '\n' ' ') body '$grpc_body'"
log "ok: direct gRPC GetUser -> grpc-status 0, ${grpc_body:0:60}"

H2_GET=(-c "$CLIENTS" -m "$STREAMS" "$GW/v1/users/42")
H2_POST_100=(-c "$CLIENTS" -m "$STREAMS" -d "$BODY_100" -H 'content-type: application/json' "$GW/v1/greeter:sayHello")
H2_POST_1K=(-c "$CLIENTS" -m "$STREAMS" -d "$BODY_1K" -H 'content-type: application/json' "$GW/v1/greeter:sayHello")
H2_GET_LAT=(-c "$CLIENTS" -m 1 "$GW/v1/users/42")
H2C_GET=(-c "$CLIENTS" -m "$STREAMS" "$GWC/v1/users/42")
GRPC=(-d "$GRPC_FRAME" -H 'content-type: application/grpc' -H 'te: trailers' "$BE/demo.v1.UserService/GetUser")

# Warm-up (not recorded): connections, allocator, upstream channel.
log "warm-up"
h2load -n 3000 "${H2_GET[@]}" >/dev/null 2>&1 || die "warm-up failed"
h2load -n 3000 "${H2C_GET[@]}" >/dev/null 2>&1 || die "plaintext warm-up failed"
h2load -n 3000 -c "$CLIENTS" -m "$STREAMS" "${GRPC[@]}" >/dev/null 2>&1 || die "gRPC warm-up failed"

# ---------------------------------------------------------------- mixed soak mode
if ((SOAK_SECS > 0)) && [[ $SOAK_MIX == 1 ]]; then
    log "mixed soak: every call shape at once for $SOAK_SECS s ($SOAK_TASKS tasks), RSS and fds every 10 s"
    if [[ $BUILD == 1 ]]; then
        (cd "$ROOT" && cargo build --release --example soak_mix)
    fi
    "$ROOT/target/release/examples/soak_mix" "$HOST:$GW_PORT" "$SOAK_SECS" "$SOAK_TASKS" >"$TMP/soak.out" 2>&1 &
    LOAD_PID=$!
    start=$SECONDS
    rss_samples=()
    fd_samples=()
    printf '  %8s %12s %12s %8s\n' elapsed_s VmRSS_KiB VmHWM_KiB fds
    while kill -0 "$LOAD_PID" 2>/dev/null; do
        rss=$(status_kib "$GW_PID" VmRSS)
        fds=$(ls "/proc/$GW_PID/fd" | wc -l)
        rss_samples+=("$rss")
        fd_samples+=("$fds")
        printf '  %8d %12s %12s %8s\n' $((SECONDS - start)) "$rss" "$(status_kib "$GW_PID" VmHWM)" "$fds"
        for _ in $(seq 100); do
            kill -0 "$LOAD_PID" 2>/dev/null || break
            sleep 0.1
        done
    done
    wait "$LOAD_PID" || die "soak client failed: $(cat "$TMP/soak.out")"
    LOAD_PID=""
    sleep 2 # let vanished clients' connections close
    rss=$(status_kib "$GW_PID" VmRSS)
    fds=$(ls "/proc/$GW_PID/fd" | wc -l)
    printf '  %8d %12s %12s %8s  (end, after 2 s quiet)\n' $((SECONDS - start)) "$rss" "$(status_kib "$GW_PID" VmHWM)" "$fds"
    cat "$TMP/soak.out"
    base=${rss_samples[1]:-${rss_samples[0]}}
    awk -v a="$base" -v b="$rss" 'BEGIN { printf "  RSS after warm-up (10 s) %d KiB, at the end %d KiB: %+.1f%%\n", a, b, (b - a) * 100 / a }'
    echo "  fds after warm-up ${fd_samples[1]:-${fd_samples[0]}}, at the end $fds"
    exit 0
fi

# ---------------------------------------------------------------- soak mode
if ((SOAK_SECS > 0)); then
    log "soak: h2_get load for $SOAK_SECS s, gateway RSS every 10 s"
    h2load -D "$SOAK_SECS" "${H2_GET[@]}" >"$TMP/soak.out" 2>&1 &
    LOAD_PID=$!
    start=$SECONDS
    samples=()
    printf '  %8s %12s %12s\n' elapsed_s VmRSS_KiB VmHWM_KiB
    while kill -0 "$LOAD_PID" 2>/dev/null; do
        rss=$(status_kib "$GW_PID" VmRSS)
        hwm=$(status_kib "$GW_PID" VmHWM)
        samples+=("$rss")
        printf '  %8d %12s %12s\n' $((SECONDS - start)) "$rss" "$hwm"
        for _ in $(seq 100); do
            kill -0 "$LOAD_PID" 2>/dev/null || break
            sleep 0.1
        done
    done
    wait "$LOAD_PID" || die "soak h2load failed: $(cat "$TMP/soak.out")"
    LOAD_PID=""
    rss=$(status_kib "$GW_PID" VmRSS)
    printf '  %8d %12s %12s  (end)\n' $((SECONDS - start)) "$rss" "$(status_kib "$GW_PID" VmHWM)"
    grep -E '^(finished in|requests:|status codes:)' "$TMP/soak.out" | sed 's/^/  /'
    # Compare with the 10 s sample (after connections and buffers are set up) when there is one.
    base=${samples[1]:-${samples[0]}}
    awk -v a="$base" -v b="$rss" 'BEGIN { printf "  RSS after warm-up (10 s) %d KiB, at the end %d KiB: %+.1f%%\n", a, b, (b - a) * 100 / a }'
    exit 0
fi

# ---------------------------------------------------------------- suite
ROUTES=$("$BIN" routes --config "$CONFIG")
if grep -q ' /v1/users:stream ' <<<"$ROUTES" && grep -q ' /v1/media/{name}:download ' <<<"$ROUTES"; then
    HAVE_STREAM=1
else
    HAVE_STREAM=0
    log "no /v1/users:stream or /v1/media/{name}:download route: streaming loads skipped"
fi
if [[ $ONLY == stream ]] && ((!HAVE_STREAM)); then
    die "ONLY=stream but the streaming routes are missing"
fi

if ((HAVE_STREAM)); then
    USERS_URL="$GW/v1/users:stream?count=$STREAM_COUNT"
    MEDIA_URL="$GW/v1/media/clip:download?sizeBytes=$STREAM_BYTES"
    MEDIA_CHUNKS=$(((STREAM_BYTES + STREAM_CHUNK - 1) / STREAM_CHUNK))
    # StreamUsersRequest{count: 1 (varint)}; DownloadRequest{name: 1 "clip", size_bytes: 2 (varint)}.
    FRAME_USERS=$TMP/stream-users.grpc
    FRAME_MEDIA=$TMP/download.grpc
    grpc_frame "$FRAME_USERS" "\\x08$(varint "$STREAM_COUNT")"
    grpc_frame "$FRAME_MEDIA" "\\x0a\\x04clip\\x10$(varint "$STREAM_BYTES")"
    GRPC_H=(-H 'content-type: application/grpc' -H 'te: trailers')
    GRPC_USERS=(-d "$FRAME_USERS" "${GRPC_H[@]}" "$BE/demo.v1.UserService/StreamUsers")
    GRPC_MEDIA=(-d "$FRAME_MEDIA" "${GRPC_H[@]}" "$BE/demo.v1.MediaService/Download")

    # One stream of each kind read whole and checked; its size is what every stream must deliver.
    check_ndjson() { # description url lines decoded-bytes(0: no data field) -> prints body bytes
        local what=$1 url=$2 lines=$3 decoded=$4 body=$TMP/stream-check.body meta stats
        meta=$(curl -sk --http2 -o "$body" -w '%{http_code} %{http_version} %{size_download} %{content_type}' "$url") ||
            die "$what: curl failed"
        # Lines, {"result"} lines, {"error"} lines, bytes decoded from the base64 "data" fields.
        stats=$(LC_ALL=C awk '
            { n++ } /^\{"result":/ { r++ } /^\{"error":/ { e++ }
            { i = index($0, "\"data\":\"")
              if (i) { d = substr($0, i + 8); L = index(d, "\"") - 1
                       pad = (substr(d, L, 1) == "=") + (substr(d, L - 1, 1) == "=")
                       dec += L / 4 * 3 - pad } }
            END { printf "%d %d %d %.0f\n", n, r, e, dec }' "$body")
        rm -f "$body"
        local code ver size ctype n r e dec
        read -r code ver size ctype <<<"$meta"
        read -r n r e dec <<<"$stats"
        [[ $code == 200 && $ver == 2 && $ctype == application/x-ndjson* && $n == "$lines" && $r == "$lines" && $e == 0 &&
            ($decoded == 0 || $dec == "$decoded") ]] ||
            die "$what: got '$meta', $n lines ($r results, $e errors, $dec bytes decoded), expected $lines lines, $decoded bytes"
        log "ok: $what -> $n NDJSON lines, $size bytes$( ((decoded > 0)) && echo ", base64 decoding to $dec bytes")"
        echo "$size"
    }
    check_grpc_stream() { # description url frame -> prints body bytes
        local what=$1 url=$2 frame=$3 size
        size=$(curl -s --http2-prior-knowledge -D "$grpc_hdr" -o /dev/null -w '%{size_download}' \
            -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @"$frame" "$url") ||
            die "$what: curl failed"
        grep -qi '^grpc-status: *0' "$grpc_hdr" ||
            die "$what: $(tr -d '\r' <"$grpc_hdr" | tr '\n' ' ')"
        log "ok: $what -> grpc-status 0, $size bytes"
        echo "$size"
    }
    GW_USERS_BYTES=$(check_ndjson "GET /v1/users:stream?count=$STREAM_COUNT" "$USERS_URL" "$STREAM_COUNT" 0)
    GW_MEDIA_BYTES=$(check_ndjson "GET /v1/media/clip:download?sizeBytes=$STREAM_BYTES" "$MEDIA_URL" \
        "$MEDIA_CHUNKS" "$STREAM_BYTES")
    DIRECT_USERS_BYTES=$(check_grpc_stream "direct gRPC StreamUsers{count: $STREAM_COUNT}" \
        "$BE/demo.v1.UserService/StreamUsers" "$FRAME_USERS")
    DIRECT_MEDIA_BYTES=$(check_grpc_stream "direct gRPC Download{clip, $STREAM_BYTES}" \
        "$BE/demo.v1.MediaService/Download" "$FRAME_MEDIA")
    ((DIRECT_MEDIA_BYTES > STREAM_BYTES)) || die "direct Download delivered $DIRECT_MEDIA_BYTES bytes, less than $STREAM_BYTES"

    # Same number of streams in every repetition, sized for about DURATION s each.
    calibrate_streams h2_stream_users "$USERS_URL"
    N_GW_USERS=$CAL_STREAMS
    calibrate_streams h2_stream_media "$MEDIA_URL"
    N_GW_MEDIA=$CAL_STREAMS
    calibrate_streams grpc_stream_users "${GRPC_USERS[@]}"
    N_DIRECT_USERS=$CAL_STREAMS
    calibrate_streams grpc_stream_media "${GRPC_MEDIA[@]}"
    N_DIRECT_MEDIA=$CAL_STREAMS
fi

log "$REPS repetition(s), $DURATION s per load, CLK_TCK=$CLK_TCK, $(nproc) cores${ONLY:+, only $ONLY loads}"
for ((REP = 1; REP <= REPS; REP++)); do
    echo "repetition $REP/$REPS"
    if [[ $ONLY != stream ]]; then
        # Each plaintext load right after its TLS twin: the machine's speed drifts over minutes.
        # (GW_PID names the gateway whose CPU is counted: there the plaintext one.)
        run_h2load h2_get "${H2_GET[@]}"
        GW_PID=$PLAIN_PID run_h2load h2c_get "${H2C_GET[@]}"
        run_h2load h2_post_100B "${H2_POST_100[@]}"
        run_h2load h2_post_1KiB "${H2_POST_1K[@]}"
        run_wrk h1_get "$GW/v1/users/42"
        GW_PID=$PLAIN_PID run_wrk h1c_get "$GWC/v1/users/42"
        run_h2load h2_get_lat "${H2_GET_LAT[@]}"
        run_h2load grpc_direct -c "$CLIENTS" -m "$STREAMS" "${GRPC[@]}"
        run_h2load grpc_direct_lat -c "$CLIENTS" -m 1 "${GRPC[@]}"
        if ((LAT_RPS > 0)); then
            run_h2load h2_get_rate -c "$CLIENTS" -m 1 --rps "$LAT_RPS" "$GW/v1/users/42"
            run_h2load grpc_direct_rate -c "$CLIENTS" -m 1 --rps "$LAT_RPS" "${GRPC[@]}"
        fi
    fi

    if ((HAVE_STREAM)); then
        run_stream h2_stream_users gateway "$N_GW_USERS" "$STREAM_COUNT" 0 "$GW_USERS_BYTES" "$USERS_URL"
        run_stream h2_stream_media gateway "$N_GW_MEDIA" "$MEDIA_CHUNKS" "$STREAM_BYTES" "$GW_MEDIA_BYTES" "$MEDIA_URL"
        run_stream grpc_stream_users direct "$N_DIRECT_USERS" "$STREAM_COUNT" 0 "$DIRECT_USERS_BYTES" "${GRPC_USERS[@]}"
        run_stream grpc_stream_media direct "$N_DIRECT_MEDIA" "$MEDIA_CHUNKS" "$STREAM_BYTES" "$DIRECT_MEDIA_BYTES" \
            "${GRPC_MEDIA[@]}"
    else
        echo "  stream            skipped: no /v1/users:stream or /v1/media/{name}:download route"
    fi

    if [[ $ONLY != stream ]]; then
        ratio=$(awk -v a="$(get_value h2_get rps)" -v b="$(get_value grpc_direct rps)" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }')
        record ratio gateway_over_direct_rps "$ratio" x
        add50=$(awk -v a="$(get_value h2_get_lat p50)" -v b="$(get_value grpc_direct_lat p50)" 'BEGIN { printf "%.0f", a - b }')
        add99=$(awk -v a="$(get_value h2_get_lat p99)" -v b="$(get_value grpc_direct_lat p99)" 'BEGIN { printf "%.0f", a - b }')
        record added_latency p50 "$add50" us
        record added_latency p99 "$add99" us
        echo "  gateway/direct-gRPC throughput (h2_get / grpc_direct): $ratio"
        h2c=$(awk -v a="$(get_value h2c_get gateway_cpu_per_req)" -v b="$(get_value h2_get gateway_cpu_per_req)" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }')
        h1c=$(awk -v a="$(get_value h1c_get gateway_cpu_per_req)" -v b="$(get_value h1_get gateway_cpu_per_req)" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }')
        record plain_over_tls h2_cpu_per_req "$h2c" x
        record plain_over_tls h1_cpu_per_req "$h1c" x
        echo "  gateway CPU per request, plaintext/TLS: HTTP/2 (h2c_get / h2_get) $h2c, HTTP/1.1 (h1c_get / h1_get) $h1c"
        echo "  added latency at -c16 -m1 (h2_get_lat - grpc_direct_lat): p50 $add50 us, p99 $add99 us"
        if ((LAT_RPS > 0)); then
            add50=$(awk -v a="$(get_value h2_get_rate p50)" -v b="$(get_value grpc_direct_rate p50)" 'BEGIN { printf "%.0f", a - b }')
            add99=$(awk -v a="$(get_value h2_get_rate p99)" -v b="$(get_value grpc_direct_rate p99)" 'BEGIN { printf "%.0f", a - b }')
            record added_latency_rate p50 "$add50" us
            record added_latency_rate p99 "$add99" us
            echo "  added latency at $((LAT_RPS * CLIENTS)) req/s (h2_get_rate - grpc_direct_rate): p50 $add50 us, p99 $add99 us"
        fi
    fi
    if ((HAVE_STREAM)); then
        su=$(awk -v a="$(get_value h2_stream_users msg_per_s)" -v b="$(get_value grpc_stream_users msg_per_s)" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }')
        sm=$(awk -v a="$(get_value h2_stream_media payload_MB_per_s)" -v b="$(get_value grpc_stream_media payload_MB_per_s)" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }')
        record stream_ratio users_msg_per_s "$su" x
        record stream_ratio media_decoded_MB_per_s "$sm" x
        echo "  streaming gateway/direct-gRPC: users messages/s $su, media decoded MB/s $sm (STREAM_CONC=$STREAM_CONC)"
    fi
done
echo
echo "summary over $REPS repetition(s) (min / median / max), $DURATION s per load, $(nproc) cores"
awk -F'\t' '
    # 6 significant digits, but whole numbers up to 12 digits in full (msg/s of the direct streams).
    function fmt(x) { return (x == int(x) && x < 1e12) ? sprintf("%.0f", x) : sprintf("%.6g", x) }
    { key = $2 "\t" $3; if (!(key in n)) { order[++k] = key; unit[key] = $5 }
      v[key, ++n[key]] = $4 }
    END {
        printf "%-18s %-22s %12s %12s %12s  %s\n", "load", "figure", "min", "median", "max", "unit"
        for (i = 1; i <= k; i++) {
            key = order[i]; m = n[key]
            for (a = 1; a <= m; a++) s[a] = v[key, a] + 0
            for (a = 2; a <= m; a++) { x = s[a]; for (b = a - 1; b >= 1 && s[b] > x; b--) s[b + 1] = s[b]; s[b + 1] = x }
            med = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
            split(key, p, "\t")
            printf "%-18s %-22s %12s %12s %12s  %s\n", p[1], p[2], fmt(s[1]), fmt(med), fmt(s[m]), unit[key]
        }
    }' "$RESULTS"
if [[ -n ${RESULTS_TSV:-} ]]; then
    cp "$RESULTS" "$RESULTS_TSV"
    log "raw figures written to $RESULTS_TSV"
fi
