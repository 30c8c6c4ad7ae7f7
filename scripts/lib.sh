# Shared helpers for the bash scripts in scripts/. Source it; do not run it.
# Conventions: progress goes to stderr in one short line per step, noisy tool output goes to
# a log under .cache/logs/ (shown only when a step fails), stdout is kept for results.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="$REPO_ROOT/.cache"
LOG_DIR="$CACHE_DIR/logs"
mkdir -p "$LOG_DIR"

# Named after the calling script so interleaved output from start.mjs stays readable.
log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# run_logged LOGNAME CMD... — run CMD with its output in .cache/logs/LOGNAME.log; on failure
# print the log's tail so the reason is visible without opening the file.
run_logged() {
  local logfile="$LOG_DIR/$1.log"; shift
  if ! "$@" >>"$logfile" 2>&1; then
    log "failed: $* (last lines of $logfile):"
    tail -n 25 "$logfile" >&2
    exit 1
  fi
}

package_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# apt_install PKG... — install Debian packages, as root only. `apt-get update` runs only when
# the first attempt fails (no package lists yet, or stale lists pointing at removed files),
# so a machine with fresh lists does not pay for an update.
apt_install() {
  is_root || die "'$*' is missing and installing it needs root: run 'sudo apt-get install -y $*' and retry"
  command -v apt-get >/dev/null || die "'$*' is missing and this is not a Debian/Ubuntu machine (no apt-get); install it by hand"
  log "installing $* from apt…"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y "$@" >>"$LOG_DIR/apt.log" 2>&1; then
    run_logged apt apt-get update
    run_logged apt apt-get install -y "$@"
  fi
}

# elapsed SECONDS_START — "12s", for "done in …" messages.
elapsed() { printf '%ss' "$(( $(date +%s) - $1 ))"; }
