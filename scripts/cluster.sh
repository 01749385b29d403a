#!/usr/bin/env bash
# Many nodes on one machine: Scout's six services as separate processes, as
# a cluster runs them, against the PostgreSQL, Redis, Kafka and S3 that a
# config file names, with several render and vision nodes sharing the job
# topics through their consumer groups.
#
#   scripts/cluster.sh start CONFIG DIR [RENDER_NODES] [VISION_NODES]
#       starts identity, tasks, publish, render-1..N, vision-1..M and the
#       edge (default 2 render and 2 vision nodes) from CONFIG (a scout TOML
#       with every service's addr/endpoint set and production backends),
#       each with its own log DIR/logs/NAME.log (appended across restarts),
#       pid file DIR/pids/NAME.pid and work directory; waits until each
#       answers. The first render and vision nodes listen where CONFIG says;
#       the others on ports of their own (they serve jobs from the bus).
#   scripts/cluster.sh kill DIR NAME       SIGKILL one node (e.g. render-2)
#   scripts/cluster.sh restart DIR NAME    start it again as it was started
#   scripts/cluster.sh stop DIR            SIGTERM every node, wait for them
#   scripts/cluster.sh nodes DIR           list the nodes and their pids
#
# CLUSTER_BIN picks the binary (default target/release/scout, else
# target/debug/scout). tests/cluster.rs runs ten tasks through it while
# killing render and vision nodes; bench/cluster.sh measures throughput.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bin() {
  if [ -n "${CLUSTER_BIN:-}" ]; then echo "$CLUSTER_BIN"; return; fi
  for b in "$ROOT/target/release/scout" "$ROOT/target/debug/scout"; do
    [ -x "$b" ] && { echo "$b"; return; }
  done
  die "no scout binary: cargo build --release (or set CLUSTER_BIN)"
}

# The port of KEY (e.g. render.addr) in the config file.
config_port() {
  local section=$1 file=$2
  awk -v s="[$section]" '
    $0 == s { inside = 1; next }
    /^\[/ { inside = 0 }
    inside && $1 == "addr" { gsub(/"/, "", $3); n = split($3, a, ":"); print a[n]; exit }
  ' "$file"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts node NAME from its saved env file.
launch() {
  local dir=$1 name=$2
  local envfile="$dir/nodes/$name.env"
  [ -f "$envfile" ] || die "no node $name in $dir"
  # shellcheck disable=SC1090
  (
    set -a
    source "$envfile"
    set +a
    mkdir -p "$NODE_WORK"
    cd "$NODE_WORK"
    exec "$NODE_BIN" --config "$NODE_CONFIG" serve "$NODE_SERVICE" >>"$dir/logs/$name.log" 2>&1
  ) &
  echo $! >"$dir/pids/$name.pid"
}

# Waits until node NAME's port answers (or it died).
await_node() {
  local dir=$1 name=$2
  local port pid
  port=$(sed -n 's/^NODE_PORT=//p' "$dir/nodes/$name.env")
  pid=$(cat "$dir/pids/$name.pid")
  for _ in $(seq 1 600); do
    port_open "$port" && return 0
    kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/logs/$name.log" >&2; die "$name exited while starting"; }
    sleep 0.1
  done
  die "$name did not open port $port within 60 s"
}

# Records how node NAME of SERVICE is started.
define() {
  local dir=$1 name=$2 service=$3 port=$4 config=$5 extra=${6:-}
  {
    echo "NODE_SERVICE=$service"
    echo "NODE_PORT=$port"
    echo "NODE_CONFIG=$config"
    echo "NODE_BIN=$(bin)"
    echo "NODE_WORK=$dir/work/$name"
    echo "HOSTNAME=$name"
    if [ -n "$extra" ]; then echo "$extra"; fi
  } >"$dir/nodes/$name.env"
}

start() {
  local config=$1 dir=$2 renders=${3:-2} visions=${4:-2}
  [ -f "$config" ] || die "no config file $config"
  config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
  mkdir -p "$dir"/{logs,pids,nodes,work}
  dir=$(cd "$dir" && pwd)
  local order=()
  for svc in identity tasks publish; do
    define "$dir" "$svc" "$svc" "$(config_port "$svc" "$config")" "$config"
    order+=("$svc")
  done
  for kind in render vision; do
    local n=$renders
    [ "$kind" = vision ] && n=$visions
    local upper
    upper=$(echo "$kind" | tr '[:lower:]' '[:upper:]')
    for i in $(seq 1 "$n"); do
      local port extra=""
      if [ "$i" = 1 ]; then
        port=$(config_port "$kind" "$config")
      else
        port=$(free_port)
        extra="SCOUT_${upper}_ADDR=127.0.0.1:$port"
      fi
      if [ "$kind" = render ]; then
        extra="${extra:+$extra$'\n'}SCOUT_MEDIA_WORK_DIR=$dir/work/$kind-$i/media"
      fi
      define "$dir" "$kind-$i" "$kind" "$port" "$config" "$extra"
      order+=("$kind-$i")
    done
  done
  define "$dir" edge edge "$(config_port edge "$config")" "$config"
  order+=(edge)
  for name in "${order[@]}"; do
    launch "$dir" "$name"
    await_node "$dir" "$name"
    say "$name up (pid $(cat "$dir/pids/$name.pid"))"
  done
}

signal_node() {
  local dir=$1 name=$2 sig=$3
  local pid
  pid=$(cat "$dir/pids/$name.pid" 2>/dev/null) || die "no node $name in $dir"
  kill "-$sig" "$pid" 2>/dev/null || true
}

stop() {
  local dir=$1
  for f in "$dir"/pids/*.pid; do
    [ -f "$f" ] || continue
    kill -TERM "$(cat "$f")" 2>/dev/null || true
  done
  for f in "$dir"/pids/*.pid; do
    [ -f "$f" ] || continue
    local pid
    pid=$(cat "$f")
    for _ in $(seq 1 600); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

case "${1:-}" in
  start) shift; [ $# -ge 2 ] || die "usage: cluster.sh start CONFIG DIR [RENDER_NODES] [VISION_NODES]"; start "$@" ;;
  kill) [ $# -eq 3 ] || die "usage: cluster.sh kill DIR NAME"; signal_node "$2" "$3" KILL ;;
  restart)
    [ $# -eq 3 ] || die "usage: cluster.sh restart DIR NAME"
    launch "$2" "$3"
    await_node "$2" "$3"
    ;;
  stop) [ $# -eq 2 ] || die "usage: cluster.sh stop DIR"; stop "$2" ;;
  nodes)
    [ $# -eq 2 ] || die "usage: cluster.sh nodes DIR"
    for f in "$2"/pids/*.pid; do echo "$(basename "$f" .pid) $(cat "$f")"; done
    ;;
  *) die "usage: cluster.sh start|kill|restart|stop|nodes ..." ;;
esac
