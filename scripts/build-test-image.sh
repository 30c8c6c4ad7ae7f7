#!/usr/bin/env bash
# Build local images without any registry (nothing can be pulled here):
#   always     sandkasten-test/busybox:latest — busybox-static in an otherwise empty root,
#              a few MB, imported in seconds; what the tests use.
#   --debian   debian:bookworm-slim — a real Debian userland with bash from debootstrap,
#              tagged as the extension's default image so `npm start` works offline.
# Each image is skipped when Docker already has it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUSYBOX_IMAGE=sandkasten-test/busybox:latest
DEBIAN_IMAGE=debian:bookworm-slim
DEBIAN_TAR="$CACHE_DIR/images/debian-bookworm.tar"

with_debian=false
for arg in "$@"; do
  case "$arg" in
    --debian) with_debian=true ;;
    *) die "unknown argument '$arg' (usage: build-test-image.sh [--debian])" ;;
  esac
done

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Build trees live under .cache/images and are removed on exit. debootstrap mounts /proc and
# /sys inside its target while it works: unmount anything left there before deleting, and
# never let rm cross into another filesystem.
remove_tree() {
  local dir="$1"
  [ -d "$dir" ] || return 0
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  rm -rf --one-file-system "$dir"
}
trees=()
trap 'for t in "${trees[@]}"; do remove_tree "$t"; done' EXIT

build_busybox() {
  if image_exists "$BUSYBOX_IMAGE"; then log "$BUSYBOX_IMAGE exists"; return; fi
  local started; started=$(date +%s)
  # The dynamically linked `busybox` package would not run in an empty root: need -static.
  package_installed busybox-static || apt_install busybox-static
  local root="$CACHE_DIR/images/busybox-root"
  trees+=("$root"); remove_tree "$root"
  mkdir -p "$root"/{bin,etc,root,tmp,workspace,proc,sys,dev,usr}
  chmod 1777 "$root/tmp"
  chmod 700 "$root/root"
  cp /bin/busybox "$root/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  # Merged /usr, like Debian: scripts that say #!/usr/bin/env or call /sbin/… still work.
  ln -s bin "$root/sbin"; ln -s ../bin "$root/usr/bin"; ln -s ../bin "$root/usr/sbin"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  # --owner/--group: the image's files belong to root even when a non-root user builds it.
  tar -C "$root" --numeric-owner --owner=0 --group=0 -c . |
    docker import --change 'ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin' --change 'CMD ["sh"]' \
      --message "sandkasten test image from Debian busybox-static" - "$BUSYBOX_IMAGE" >/dev/null

  # The sidecar relies on these tools; catch a broken image now rather than in a test.
  # -t: stty and top want a terminal; without -i it works even when ours is not one.
  local check='set -e
    for c in sh sleep cat pwd head wc ps kill env echo ls mkdir vi top stty; do
      command -v "$c" >/dev/null || { echo "missing: $c"; exit 1; }
    done
    cd /workspace; [ "$(pwd)" = /workspace ]
    mkdir -p /tmp/check; echo hello | cat | head -n 1 | wc -c | grep -q 6
    sleep 0.01 & kill "$!"; ps >/dev/null; env | grep -q PATH=; ls / >/dev/null
    stty size >/dev/null; top -b -n 1 >/dev/null
    [ "$(stat -c %a /tmp)" = 1777 ]; echo ok'
  local out
  if ! out=$(docker run --rm -t "$BUSYBOX_IMAGE" sh -c "$check" 2>&1) || [[ "$out" != *ok* ]]; then
    docker image rm "$BUSYBOX_IMAGE" >/dev/null 2>&1 || true
    die "sanity check of $BUSYBOX_IMAGE failed: $out"
  fi
  log "built $BUSYBOX_IMAGE in $(elapsed "$started")"
}

# The mirror apt itself uses for bookworm (maybe a local mirror or proxy), so debootstrap
# reaches the same place; apt-cache policy lists it once package lists exist.
debian_mirror() {
  local mirror
  mirror=$(apt-cache policy 2>/dev/null | awk '$3 ~ /^bookworm\/main$/ {print $2; exit}')
  if [ -z "$mirror" ]; then
    run_logged apt apt-get update
    mirror=$(apt-cache policy 2>/dev/null | awk '$3 ~ /^bookworm\/main$/ {print $2; exit}')
  fi
  echo "${mirror:-http://deb.debian.org/debian}"
}

build_debian() {
  if image_exists "$DEBIAN_IMAGE"; then log "$DEBIAN_IMAGE exists"; return; fi
  local started; started=$(date +%s)
  if [ ! -f "$DEBIAN_TAR" ]; then
    is_root || die "building $DEBIAN_IMAGE with debootstrap needs root"
    command -v debootstrap >/dev/null || apt_install debootstrap
    local mirror root="$CACHE_DIR/images/debian-root"
    mirror=$(debian_mirror)
    trees+=("$root"); remove_tree "$root"
    log "debootstrap bookworm from $mirror (a few minutes, once; log: $LOG_DIR/debootstrap.log)…"
    : >"$LOG_DIR/debootstrap.log"
    run_logged debootstrap debootstrap --variant=minbase bookworm "$root" "$mirror"
    # Like the official slim image: no package lists or downloaded .debs inside.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log
    mkdir -p "$root/workspace"
    # Write then rename: an interrupted run never leaves a truncated cache behind.
    tar -C "$root" --numeric-owner -cf "$DEBIAN_TAR.partial" .
    mv "$DEBIAN_TAR.partial" "$DEBIAN_TAR"
  fi
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' --message "sandkasten: debootstrap --variant=minbase bookworm" \
    "$DEBIAN_TAR" "$DEBIAN_IMAGE" >/dev/null
  docker run --rm "$DEBIAN_IMAGE" bash -c 'echo ok' | grep -q ok || die "sanity check of $DEBIAN_IMAGE failed"
  log "built $DEBIAN_IMAGE in $(elapsed "$started")"
}

mkdir -p "$CACHE_DIR/images"
build_busybox
if $with_debian; then build_debian; fi
