#!/usr/bin/env bash
# `make compose-test`: docker-compose.yml, for real, on this machine.
#
#   installs docker.io, docker-compose and debootstrap (apt) when missing; starts dockerd unless
#   one is running; makes the debian:bookworm-slim base image locally when it is absent (no image
#   registry needed); builds every image from the repository's Dockerfiles; `up` with three
#   brokers and three workers; runs deploy/compose_check.py from the host (a scan published with
#   the CLI, every terminal event seen; a worker and a broker container SIGKILLed mid-batch, every
#   run finished exactly once; the cli service and Prometheus); `down -v`; and, if it started
#   dockerd, stops it and restores the network state dockerd leaves behind (docker0, iptables,
#   ip_forward).
#
# Cached between runs, outside the repository, in $MESHSTREAM_CACHE_DIR (~/.cache/meshstream):
#   debian-bookworm-minbase.tar   the debootstrapped base image (~40 s to make)
#   docker/data/                  dockerd's data root: image layers, so the pip wheels and the
#                                 Maven jars are downloaded once per lock-file/version change
# Behind a TLS-intercepting proxy the builds trust the machine's locally added CAs
# (/usr/local/share/ca-certificates/*.crt, passed as the EXTRA_CA_CERTS build argument).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${MESHSTREAM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meshstream}
PROJECT=${MESHSTREAM_COMPOSE_PROJECT:-meshstream-compose-test}
WORKERS=3
RUN=$(mktemp -d /tmp/meshstream-compose-test.XXXXXX)
T0=$(date +%s)
log() { echo "[compose-test +$(( $(date +%s) - T0 ))s] $*"; }
dc() { docker-compose -f "$ROOT/docker-compose.yml" -p "$PROJECT" "$@"; }

# --- packages ---------------------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- dockerd ----------------------------------------------------------------------------------
STARTED_DOCKERD=0
cleanup() {
  local rc=$?
  set +e
  if docker info >/dev/null 2>&1; then
    if ((rc != 0)); then
      log "FAILED; container logs (tail) follow"
      dc logs --no-color --tail 40 2>&1 | tail -200
    fi
    log "down -v"
    dc --profile cli down -v --remove-orphans --timeout 20 >/dev/null 2>&1
  fi
  if ((STARTED_DOCKERD)); then
    log "stopping dockerd (pid $(cat "$RUN/dockerd.pid" 2>/dev/null))"
    local pid; pid=$(cat "$RUN/dockerd.pid" 2>/dev/null || true)
    if [[ -n $pid ]]; then
      kill "$pid" 2>/dev/null
      for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
    # what dockerd leaves behind: its bridge, its iptables chains/rules, ip_forward
    ip link show docker0 >/dev/null 2>&1 && ((HAD_DOCKER0 == 0)) && ip link delete docker0
    iptables-restore < "$RUN/iptables.before"
    echo "$IP_FORWARD" > /proc/sys/net/ipv4/ip_forward
  fi
  rm -rf "$RUN"
  log "wall time $(( $(date +%s) - T0 )) s (exit $rc)"
}
trap cleanup EXIT

if docker info >/dev/null 2>&1; then
  log "using the running dockerd"
else
  iptables-save > "$RUN/iptables.before"
  IP_FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)
  HAD_DOCKER0=0; ip link show docker0 >/dev/null 2>&1 && HAD_DOCKER0=1
  mkdir -p "$CACHE/docker/data"
  dockerd --data-root "$CACHE/docker/data" --pidfile "$RUN/dockerd.pid" > "$RUN/dockerd.log" 2>&1 &
  STARTED_DOCKERD=1
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$RUN/dockerd.log"; exit 1; }
  log "dockerd started (data root $CACHE/docker/data)"
fi

# --- base image -------------------------------------------------------------------------------
if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  TARBALL=$CACHE/debian-bookworm-minbase.tar
  if [[ ! -f $TARBALL ]]; then
    # the Debian mirror apt already uses on this machine
    MIRROR=$(sed -n 's/^URIs: *\(\S*\/debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
    [[ -n $MIRROR ]] || MIRROR=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
    log "debootstrap bookworm (minbase) from $MIRROR"
    debootstrap --variant=minbase bookworm "$RUN/rootfs" "$MIRROR" > "$RUN/debootstrap.log" 2>&1 \
      || { tail -20 "$RUN/debootstrap.log"; exit 1; }
    rm -rf "$RUN"/rootfs/var/cache/apt/archives/*.deb "$RUN"/rootfs/var/lib/apt/lists/*
    mkdir -p "$CACHE"
    tar -C "$RUN/rootfs" -c . > "$TARBALL.partial" && mv "$TARBALL.partial" "$TARBALL"
    rm -rf "$RUN/rootfs"
  fi
  docker import --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$TARBALL" debian:bookworm-slim >/dev/null
  log "base image debian:bookworm-slim imported from $TARBALL"
fi

# --- build and up -----------------------------------------------------------------------------
EXTRA_CA_CERTS=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)
export EXTRA_CA_CERTS
log "building images"
dc build --quiet 2>&1 | grep -vE "^$|DEPRECATED|Install the buildx|docs.docker.com/go/buildx" || true
dc --profile cli build --quiet cli >/dev/null 2>&1 || true
test -n "$(docker images -q meshstream:local)" -a -n "$(docker images -q meshstream-kafka:local)" \
  -a -n "$(docker images -q meshstream-registry:local)" -a -n "$(docker images -q meshstream-prometheus:local)" \
  || { log "image build failed"; exit 1; }
log "up: 3 brokers, $WORKERS workers"
dc down -v --remove-orphans >/dev/null 2>&1 || true
dc up -d --scale worker=$WORKERS 2>&1 | grep -v "^$" | sed 's/^/    /'

deadline=$(( $(date +%s) + 300 ))
while :; do
  ids=$(dc ps -q worker)
  healthy=0
  for id in $ids; do
    [[ $(docker inspect -f '{{.State.Health.Status}}' "$id") == healthy ]] && healthy=$((healthy + 1))
  done
  ((healthy == WORKERS)) && break
  if (( $(date +%s) > deadline )); then log "workers not healthy after 300 s"; dc ps; exit 1; fi
  sleep 3
done
log "all $WORKERS workers ready"
dc ps

# --- checks from the host ---------------------------------------------------------------------
export MESHSTREAM_KAFKA_BOOTSTRAP=127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094
export MESHSTREAM_SCHEMA_REGISTRY_URL=http://127.0.0.1:8081/apis/ccompat/v7
export MESHSTREAM_S3_ENDPOINT=127.0.0.1:8333
export MESHSTREAM_S3_ACCESS_KEY=meshstream MESHSTREAM_S3_SECRET_KEY=meshstream-secret
export MESHSTREAM_API_URL=http://127.0.0.1:6066
export MESHSTREAM_SPOOL_DIR=$RUN/spool
cd "$ROOT"
"$ROOT/.venv/bin/python" -m deploy.compose_check --project "$PROJECT" --workers "$WORKERS"
log "passed"
