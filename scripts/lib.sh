# Shared helpers for the project's scripts. Sourced, not run.

say() { printf '\033[1;36m==>\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits up to $2 seconds (default 60) for port $1.
wait_port() {
  local port=$1 limit=${2:-60} i=0
  while ! port_open "$port"; do
    i=$((i + 1))
    [ "$i" -gt $((limit * 10)) ] && return 1
    sleep 0.1
  done
}

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif have sudo; then sudo "$@"; else die "need root for: $*"; fi
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
# Node from the npm registry, when the system's was too old (install.sh).
if [ -d "$ROOT/.node/bin" ]; then export PATH="$ROOT/.node/bin:$PATH"; fi
