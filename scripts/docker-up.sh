#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`. There is no systemd on these machines, so
# when no engine runs we start dockerd ourselves, detached, and leave it running.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

engine_answers() { docker info >/dev/null 2>&1; }

command -v docker >/dev/null || { is_root && apt_install docker.io; } || true
command -v docker >/dev/null || die "no docker client; install Docker (Debian: apt-get install docker.io)"

# Fast path: any engine the client reaches (DOCKER_HOST, a context, the local socket).
engine_answers && exit 0

# A remote or custom DOCKER_HOST that does not answer cannot be fixed by a local dockerd.
if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "unix:///var/run/docker.sock" ]; then
  die "DOCKER_HOST=$DOCKER_HOST does not answer (docker info failed); start that engine or unset DOCKER_HOST"
fi

is_root || die "no Docker engine answers and starting one needs root; start Docker (Docker Desktop, 'sudo systemctl start docker' or 'sudo dockerd &') and retry"

command -v dockerd >/dev/null || apt_install docker.io

engine_log="$CACHE_DIR/dockerd.log"
# A dockerd started moments ago (say by a parallel run) may still be initialising: wait for
# it instead of starting a second one that would fail on the pid file.
engine_pid=$(pgrep -x -o dockerd || true)
if [ -n "$engine_pid" ]; then
  log "dockerd is running but not answering yet; waiting…"
else
  log "starting dockerd (log: $engine_log)…"
  # setsid: its own session, so it survives this script and the terminal's Ctrl-C.
  setsid dockerd >"$engine_log" 2>&1 </dev/null &
  engine_pid=$!
fi

started=$(date +%s)
for _ in $(seq 1 120); do
  if engine_answers; then log "Docker engine is up ($(elapsed "$started"))"; exit 0; fi
  # A dockerd that exited (bad config, missing kernel feature) will never answer.
  kill -0 "$engine_pid" 2>/dev/null || break
  sleep 0.5
done
log "error: dockerd did not come up; last lines of $engine_log:"
tail -n 30 "$engine_log" >&2 || true
exit 1
