#!/usr/bin/env bash
# A second Docker engine on this machine that the tests treat as remote: its own dockerd
# (data-root, exec-root, pidfile, socket, bridge, containerd), reached over loopback TCP with
# TLS client certificates and over ssh:// through an sshd on loopback. One per machine, shared
# by every run; the locations and ports below are fixed because other scripts rely on them.
#
#   up     set up what is missing, start what is not running, copy the test images; idempotent
#   start  start the engine again after `stop` and wait until it answers
#   stop   stop only the engine (its data stays), for fault tests
#   down   remove everything: engine, sshd, bridge, directories
#   env    (re)write env/*.env, the settings a client needs (see write_env)
#
# Root only. It never touches the main engine, its files or the user's ~/.ssh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE=/var/lib/sandkasten-test-engine
RUN=/run/sk2                          # short: a unix socket path is limited to ~104 bytes
SOCKET="$RUN/docker.sock"
PIDFILE="$RUN/docker.pid"
TLS_PORT=23760
SSH_PORT=22220
SSH_HOST=sandkasten-test-remote
BRIDGE=sk2br
BRIDGE_ADDRESS=172.31.250.1/24
# Subnets of the networks the sidecar makes on this engine; far from the main engine's pools.
ADDRESS_POOL=base=10.213.0.0/16,size=24
REQUIRED_IMAGES=(sandkasten-test/busybox:latest debian:bookworm-slim)
OPTIONAL_IMAGES=(sandkasten-test/node:latest)

TLS="$STATE/tls"
SSH="$STATE/ssh"
ENV_DIR="$STATE/env"
LOGS="$STATE/logs"
SSHD_PIDFILE="$SSH/sshd.pid"

usage() { die "usage: remote-engine.sh up|start|stop|down|env"; }

# The second engine through its unix socket, whatever the caller's DOCKER_* settings say.
sk2_docker() { env -u DOCKER_HOST -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH docker -H "unix://$SOCKET" "$@"; }
engine_answers() { [ -S "$SOCKET" ] && sk2_docker info >/dev/null 2>&1; }
tls_answers() {
  env -u DOCKER_HOST -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH \
    docker --tlsverify --tlscacert "$TLS/client/ca.pem" --tlscert "$TLS/client/cert.pem" --tlskey "$TLS/client/key.pem" \
    -H "tcp://127.0.0.1:$TLS_PORT" version >/dev/null 2>&1
}
ssh_answers() {
  env -u DOCKER_HOST -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH PATH="$SSH/bin:$PATH" \
    docker -H "ssh://root@$SSH_HOST" version >/dev/null 2>&1
}
# pid from a pidfile when that process still runs and is the named program.
running_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && echo "$pid"
}

require_tools() {
  command -v dockerd >/dev/null || apt_install docker.io
  command -v docker >/dev/null || die "no docker client; install Docker (Debian: apt-get install docker.io)"
  command -v openssl >/dev/null || apt_install openssl
  command -v ip >/dev/null || apt_install iproute2
  command -v flock >/dev/null || apt_install util-linux
  [ -x /usr/bin/ssh ] || apt_install openssh-client
  [ -x /usr/sbin/sshd ] || install_sshd
}

# openssh-server without its system service: Debian's postinst starts sshd on port 22 unless
# a policy-rc.d forbids it, so one is put in place for the install when there is none.
install_sshd() {
  local policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
  fi
  apt_install openssh-server
}

# One run at a time changes the engine (several test runs may call `up` together). The lock
# lives outside $STATE so that `down` can remove the directory while holding it.
take_lock() {
  mkdir -p /run/lock
  exec 9>/run/lock/sandkasten-test-engine.lock
  flock -w 300 9 || die "another remote-engine.sh has held the lock for 5 minutes; is it stuck?"
}

# --- certificates -----------------------------------------------------------------------

new_ca() { # DIR CN
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=$2" \
    -keyout "$1/ca-key.pem" -out "$1/ca.pem" 2>/dev/null
}
new_cert() { # CA_DIR OUT_CERT OUT_KEY CN EXTENSIONS
  local csr="$2.csr" ext="$2.ext"
  printf '%s\n' "$5" >"$ext"
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$4" -keyout "$3" -out "$csr" 2>/dev/null
  openssl x509 -req -sha256 -days 3650 -in "$csr" -CA "$1/ca.pem" -CAkey "$1/ca-key.pem" -CAcreateserial \
    -extfile "$ext" -out "$2" 2>/dev/null
  rm -f "$csr" "$ext"
  chmod 600 "$3"
}

make_certificates() {
  [ -s "$TLS/wrong-ca/key.pem" ] && return 0
  log "making TLS certificates…"
  rm -rf "$TLS"
  mkdir -p "$TLS/other-ca" "$TLS/client" "$TLS/wrong-client" "$TLS/wrong-ca"
  chmod 700 "$TLS"
  local client_ext='extendedKeyUsage=clientAuth'
  new_ca "$TLS" "sandkasten test engine CA"
  new_cert "$TLS" "$TLS/server-cert.pem" "$TLS/server-key.pem" "sandkasten test engine" \
    "$(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth')"
  new_cert "$TLS" "$TLS/client/cert.pem" "$TLS/client/key.pem" "sandkasten test client" "$client_ext"
  cp "$TLS/ca.pem" "$TLS/client/ca.pem"
  # Negative tests. wrong-client: trusts the right server, but its client certificate comes
  # from an unrelated CA (the engine refuses it). wrong-ca: the right client certificate,
  # but it trusts only the unrelated CA (the client refuses the engine's certificate).
  new_ca "$TLS/other-ca" "unrelated CA"
  new_cert "$TLS/other-ca" "$TLS/wrong-client/cert.pem" "$TLS/wrong-client/key.pem" "unrelated client" "$client_ext"
  cp "$TLS/ca.pem" "$TLS/wrong-client/ca.pem"
  cp "$TLS/other-ca/ca.pem" "$TLS/wrong-ca/ca.pem"
  cp "$TLS/client/cert.pem" "$TLS/wrong-ca/cert.pem"
  cp "$TLS/client/key.pem" "$TLS/wrong-ca/key.pem"
}

# --- ssh ----------------------------------------------------------------------------------

client_config() { # IDENTITY KNOWN_HOSTS
  cat <<EOF
Host $SSH_HOST
  HostName 127.0.0.1
  Port $SSH_PORT
  User root
  IdentityFile $1
  IdentitiesOnly yes
  UserKnownHostsFile $2
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  BatchMode yes
  LogLevel ERROR
EOF
}

# OpenSSH reads ~/.ssh whatever $HOME says: callers put one of these directories first on
# PATH, and the `ssh` in it brings its own config file.
make_wrapper() { # DIR CONFIG
  mkdir -p "$1"
  printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$2" >"$1/ssh"
  chmod 755 "$1/ssh"
}

make_ssh_material() {
  if [ ! -s "$SSH/bin-refused-key/ssh" ]; then
    log "making ssh keys and configuration…"
    rm -rf "$SSH"
    mkdir -p "$SSH/docker-config"
    chmod 700 "$SSH"
    ssh-keygen -q -t ed25519 -N '' -C 'sandkasten test engine host' -f "$SSH/host_key"
    ssh-keygen -q -t ed25519 -N '' -C 'sandkasten test client' -f "$SSH/client_key"
    ssh-keygen -q -t ed25519 -N '' -C 'sandkasten test client (not authorized)' -f "$SSH/refused_key"
    cp "$SSH/client_key.pub" "$SSH/authorized_keys"
    printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$SSH/host_key.pub")" >"$SSH/known_hosts"
    : >"$SSH/known_hosts_empty"
    client_config "$SSH/client_key" "$SSH/known_hosts" >"$SSH/config"
    client_config "$SSH/client_key" "$SSH/known_hosts_empty" >"$SSH/unknown-host-config"
    client_config "$SSH/refused_key" "$SSH/known_hosts" >"$SSH/refused-key-config"
    make_wrapper "$SSH/bin-unknown-host" "$SSH/unknown-host-config"
    make_wrapper "$SSH/bin-refused-key" "$SSH/refused-key-config"
    make_wrapper "$SSH/bin" "$SSH/config"
  fi
  # Key-only root login; sessions reach the second engine (`docker system dial-stdio`).
  # Limits (MaxSessions, MaxStartups) stay at OpenSSH's defaults, as on a user's server.
  cat >"$SSH/sshd_config.new" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SSH/host_key
PidFile $SSHD_PIDFILE
AuthorizedKeysFile $SSH/authorized_keys
PermitRootLogin prohibit-password
AllowUsers root
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
SetEnv DOCKER_HOST=unix://$SOCKET DOCKER_CONFIG=$SSH/docker-config
EOF
  if cmp -s "$SSH/sshd_config.new" "$SSH/sshd_config"; then rm "$SSH/sshd_config.new"; return 0; fi
  mv "$SSH/sshd_config.new" "$SSH/sshd_config"
  # A running sshd reads a changed configuration on SIGHUP.
  local pid
  pid=$(running_pid "$SSHD_PIDFILE" sshd || true)
  if [ -n "$pid" ]; then log "sshd configuration changed; reloading it"; kill -HUP "$pid"; fi
}

start_sshd() {
  if running_pid "$SSHD_PIDFILE" sshd >/dev/null; then return 0; fi
  mkdir -p /run/sshd
  chmod 755 /run/sshd
  log "starting sshd on 127.0.0.1:$SSH_PORT…"
  # sshd daemonizes itself; fd 9 is the lock and must not live on in it.
  /usr/sbin/sshd -f "$SSH/sshd_config" -E "$LOGS/sshd.log" 9>&- ||
    { tail -n 20 "$LOGS/sshd.log" >&2 || true; die "sshd did not start (log: $LOGS/sshd.log)"; }
}

# --- engine -------------------------------------------------------------------------------

make_bridge() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || {
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDRESS" dev "$BRIDGE"
  }
  ip link set "$BRIDGE" up
}

# The second dockerd, started again on its data root, deletes the host's docker0 — the main
# engine's default bridge (both engines share the host's network namespace, and the stale
# default network it clears on start takes the interface with it). The main engine takes a
# docker0 made again with the same address as its own: note it before, restore it after.
restore_docker0() {
  local address=$1
  [ -n "$address" ] || return 0
  ip link show docker0 >/dev/null 2>&1 && return 0
  ip link add docker0 type bridge && ip addr add "$address" dev docker0 && ip link set docker0 up
  log "restored docker0 ($address), which starting the second dockerd removed"
}

start_engine() {
  [ -s "$TLS/server-key.pem" ] || die "the second engine is not set up; run 'bash scripts/remote-engine.sh up'"
  engine_answers && return 0
  local pid started docker0
  started=$(date +%s)
  docker0=$(ip -o -4 addr show dev docker0 2>/dev/null | awk '{print $4}' | head -n 1)
  pid=$(running_pid "$PIDFILE" dockerd || true)
  if [ -n "$pid" ]; then
    log "the second dockerd is running but not answering yet; waiting…"
  else
    make_bridge
    mkdir -p "$RUN" "$LOGS"
    # Its own (empty) config file, so /etc/docker/daemon.json of the main engine does not
    # apply; its own containerd namespaces, should it ever share a system containerd.
    echo '{}' >"$STATE/daemon.json"
    mkdir -p "$STATE/etc-docker" /etc/docker
    chmod 700 "$STATE/etc-docker"
    log "starting the second dockerd (log: $LOGS/dockerd.log)…"
    # In a mount namespace of its own: dockerd 20.10 takes its ID (`docker info`) from
    # /etc/docker/key.json, which would make both engines one engine to a client; a private
    # /etc/docker gives it an ID of its own, as a remote engine has. Its mounts stay out of
    # the host's view, and the copies of the main engine's mounts (container root
    # filesystems, network namespaces, workspace slots) are dropped so it holds none of them.
    setsid unshare --mount --propagation private -- /bin/sh -c '
      awk '"'"'$3 == "overlay" || $3 == "nsfs" || $2 ~ "^/(var/lib/docker|run/docker|run/sandkasten|run/containerd)(/|$)" {print $2}'"'"' /proc/self/mounts |
        sort -r | xargs -r -n1 umount -l
      mount --bind "$0" /etc/docker && exec "$@"' "$STATE/etc-docker" dockerd \
      --config-file "$STATE/daemon.json" \
      --data-root "$STATE/root" --exec-root "$RUN/exec" --pidfile "$PIDFILE" \
      -H "unix://$SOCKET" -H "tcp://127.0.0.1:$TLS_PORT" \
      --tlsverify --tlscacert "$TLS/ca.pem" --tlscert "$TLS/server-cert.pem" --tlskey "$TLS/server-key.pem" \
      --bridge "$BRIDGE" --iptables=false --default-address-pool "$ADDRESS_POOL" \
      --containerd-namespace sk2 --containerd-plugins-namespace sk2-plugins \
      >>"$LOGS/dockerd.log" 2>&1 </dev/null 9>&- &
    pid=$!
  fi
  for _ in $(seq 1 120); do
    if engine_answers; then
      restore_docker0 "$docker0"
      log "the second engine answers ($(elapsed "$started"))"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  tail -n 30 "$LOGS/dockerd.log" >&2 || true
  die "the second dockerd did not come up (log: $LOGS/dockerd.log)"
}

stop_engine() {
  local pid
  pid=$(running_pid "$PIDFILE" dockerd || true)
  [ -n "$pid" ] || return 0
  log "stopping the second dockerd (pid $pid)…"
  kill -TERM "$pid"
  # dockerd stops its containers first (up to their stop timeouts).
  for _ in $(seq 1 240); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  die "the second dockerd (pid $pid) did not stop within 2 minutes"
}

# --- images -------------------------------------------------------------------------------

# `docker save | load` keeps the image id, so an equal id means an equal image.
copy_images() {
  local image local_id remote_id
  for image in "${REQUIRED_IMAGES[@]}" "${OPTIONAL_IMAGES[@]}"; do
    local_id=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
    if [ -z "$local_id" ]; then
      case " ${REQUIRED_IMAGES[*]} " in
        *" $image "*) die "$image is missing on the local engine; run 'bash scripts/build-test-image.sh --debian' first" ;;
      esac
      continue
    fi
    remote_id=$(sk2_docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
    [ "$local_id" = "$remote_id" ] && continue
    log "copying $image to the second engine…"
    docker save "$image" | sk2_docker load >>"$LOGS/images.log" 2>&1 || die "copying $image failed (log: $LOGS/images.log)"
  done
}

# --- env files ----------------------------------------------------------------------------

write_env() {
  mkdir -p "$ENV_DIR"
  local tls_common="DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT
DOCKER_TLS_VERIFY=1"
  printf '%s\nDOCKER_CERT_PATH=%s\n' "$tls_common" "$TLS/client" >"$ENV_DIR/tls.env"
  printf '%s\nDOCKER_CERT_PATH=%s\n' "$tls_common" "$TLS/wrong-client" >"$ENV_DIR/tls-wrong-client.env"
  printf '%s\nDOCKER_CERT_PATH=%s\n' "$tls_common" "$TLS/wrong-ca" >"$ENV_DIR/tls-wrong-ca.env"
  local ssh_host="DOCKER_HOST=ssh://root@$SSH_HOST"
  printf '%s\nPATH_PREPEND=%s\n' "$ssh_host" "$SSH/bin" >"$ENV_DIR/ssh.env"
  printf '%s\nPATH_PREPEND=%s\n' "$ssh_host" "$SSH/bin-unknown-host" >"$ENV_DIR/ssh-unknown-host.env"
  printf '%s\nPATH_PREPEND=%s\n' "$ssh_host" "$SSH/bin-refused-key" >"$ENV_DIR/ssh-refused-key.env"
}

# --- commands -----------------------------------------------------------------------------

cmd_up() {
  require_tools
  take_lock
  mkdir -p "$STATE" "$LOGS" "$RUN"
  make_certificates
  make_ssh_material
  start_engine
  start_sshd
  copy_images
  write_env
  tls_answers || die "the second engine does not answer on tcp://127.0.0.1:$TLS_PORT with the client certificate (log: $LOGS/dockerd.log)"
  ssh_answers || die "the second engine does not answer over ssh://root@$SSH_HOST (log: $LOGS/sshd.log)"
  log "second engine up: unix://$SOCKET, tcp://127.0.0.1:$TLS_PORT (TLS), ssh://root@$SSH_HOST (127.0.0.1:$SSH_PORT); settings in $ENV_DIR"
}

cmd_down() {
  take_lock
  stop_engine
  local pid
  pid=$(running_pid "$SSHD_PIDFILE" sshd || true)
  if [ -n "$pid" ]; then log "stopping sshd (pid $pid)…"; kill -TERM "$pid"; fi
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  # The engine mounts in its own namespace, which ended with it; a mount left here anyway
  # (netns files, overlay layers) goes before the files.
  awk -v a="$RUN/" -v b="$STATE/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  rm -rf --one-file-system "$RUN" "$STATE"
  log "second engine removed"
}

case "${1:-}" in up | start | stop | down | env) ;; *) usage ;; esac
is_root || die "the second engine needs root (its own dockerd, bridge and sshd); run 'sudo bash scripts/remote-engine.sh $1'"
case "$1" in
  up) cmd_up ;;
  start) take_lock; start_engine ;;
  stop) take_lock; stop_engine ;;
  down) cmd_down ;;
  env) [ -d "$TLS/client" ] || die "the second engine is not set up; run 'bash scripts/remote-engine.sh up'"; write_env ;;
esac
