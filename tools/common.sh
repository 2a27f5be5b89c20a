# shellcheck shell=bash
# tools/common.sh -- shared helpers for demo/run and tests/run.
# Source it (bash only); it defines functions and a few variables, nothing
# runs at source time except computing NOTARY_ROOT.
#
# Everything here expects to run as root on Debian 12: packages are
# installed with apt-get, the extension is installed into the system
# PostgreSQL 15, and servers run as the OS user "postgres" (PostgreSQL
# refuses to run as root).

NOTARY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=15
# NOTARY_PG_BINDIR: another (relocated) copy of PostgreSQL 15, e.g. to let two
# working trees install and test side by side.
PG_BINDIR=${NOTARY_PG_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}
PG_CONFIG=$PG_BINDIR/pg_config
export PG_CONFIG

NOTARY_PACKAGES=(
  "postgresql-$PG_MAJOR"
  "postgresql-server-dev-$PG_MAJOR"   # PGXS, pg_regress, pg_isolation_regress, TAP modules
  postgresql-contrib
  libsodium-dev
  make
  gcc
  libipc-run-perl                     # PostgreSQL::Test::Cluster needs IPC::Run
  python3
  libpq-dev                           # notary-verify (cli/): libpq
  libjansson-dev                      # notary-verify: JSON
  clang                               # cli/fuzz_parsers: libFuzzer target
  libclang-rt-14-dev                  # clang's runtime: libFuzzer, ASan, UBSan
  python3-nacl                        # tests/opendata: Ed25519 checked apart from libsodium's C use
  python3-jsonschema                  # tests/opendata: datapackage.json against its profiles
)
# tests/opendata fetches the official Frictionless profiles with "npm pack";
# Debian's npm only where no npm is installed already.
command -v npm >/dev/null 2>&1 || NOTARY_PACKAGES+=(npm)

notary_log() { printf '==> %s\n' "$*"; }
notary_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

notary_require_root() {
  [ "$(id -u)" -eq 0 ] || notary_die "must run as root (installs packages, runs servers as user postgres)"
}

# Install only the packages that are missing (apt-get update at most once).
notary_install_deps() {
  notary_require_root
  local pkg missing=()
  for pkg in "${NOTARY_PACKAGES[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    notary_log "dependencies already installed"
    return 0
  fi
  notary_log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || return 1
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null || return 1
  id postgres >/dev/null 2>&1 || notary_die "OS user postgres missing after installing postgresql-$PG_MAJOR"
}

# Build in the repo root and install into the system PostgreSQL (as root).
# Arguments go to make (tests/run: ASSERTS=1).
notary_build_install() {
  notary_require_root
  notary_log "building pg_notary${*:+ ($*)}"
  make -C "$NOTARY_ROOT" -s PG_CONFIG="$PG_CONFIG" "$@" || return 1
  notary_log "installing pg_notary"
  make -C "$NOTARY_ROOT" -s PG_CONFIG="$PG_CONFIG" "$@" install || return 1
}

# as_pg_in DIR CMD...: run CMD as the OS user postgres, in DIR, with the
# PostgreSQL 15 binaries first on PATH.  The rest of the environment is kept.
as_pg_in() {
  local dir=$1; shift
  (cd "$dir" && runuser -u postgres -- env PATH="$PG_BINDIR:$PATH" "$@")
}

# as_pg CMD...: same, in / (the caller's cwd may be unreadable for postgres,
# e.g. a clone under /root).  Pass absolute paths.
as_pg() { as_pg_in / "$@"; }

# notary_copy_repo DEST: copy the working tree (tracked + untracked files
# not ignored by .gitignore; everything but .git when not a git checkout)
# into DEST, owned by postgres.
notary_copy_repo() {
  local dest=$1
  mkdir -p "$dest" || return 1
  if command -v git >/dev/null 2>&1 && git -C "$NOTARY_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$NOTARY_ROOT" && git ls-files -z -c -o --exclude-standard \
      | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$dest" || return 1
  else
    (cd "$NOTARY_ROOT" && tar --exclude=./.git --exclude='*.o' --exclude='*.so' \
      --exclude='*.bc' --exclude=./results --exclude=./output_iso \
      --exclude=./tmp_check --exclude=./log -cf - .) | tar -xf - -C "$dest" || return 1
  fi
  chown -R postgres:postgres "$dest"
}

# notary_start_cluster DIR PORT: initdb DIR/data (as postgres) and start it.
# The socket lives in DIR/sock (use it as PGHOST); no TCP listener, so the
# port can't collide with anything else.  DIR must not contain a cluster.
notary_start_cluster() {
  local dir=$1 port=$2
  [ -e "$dir/data" ] && notary_die "cluster directory $dir/data already exists"
  mkdir -p "$dir/sock" && chown -R postgres:postgres "$dir" && chmod 700 "$dir" || return 1
  notary_log "initdb $dir/data"
  as_pg initdb -D "$dir/data" -E UTF8 --locale=C.UTF-8 --auth=trust -U postgres >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log"; notary_die "initdb failed"; }
  cat >>"$dir/data/postgresql.conf" <<EOF

# --- pg_notary throwaway cluster ---
port = $port
listen_addresses = ''
unix_socket_directories = '$dir/sock'
shared_preload_libraries = ''
max_prepared_transactions = 10
EOF
  notary_log "starting server on $dir/sock port $port"
  if ! as_pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
    tail -n 50 "$dir/server.log" 2>/dev/null
    notary_die "server in $dir did not start"
  fi
}

# notary_stop_cluster DIR: stop the server in DIR/data if one is running.
notary_stop_cluster() {
  local dir=$1
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg pg_ctl -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 \
      || as_pg pg_ctl -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
}
