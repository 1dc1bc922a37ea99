# Sourced by the benchmark scripts that need PostGIS (postgis_load.sh, replicas.sh): a throwaway
# PostgreSQL 15 + PostGIS 3 cluster, started as the `postgres` user in a temp dir on a free
# loopback port, holding a generated city's estates and facilities tables.
#
#   pg_check NAME           exits with a message when PostgreSQL/PostGIS, ogr2ogr or root is missing
#   pg_start                starts the cluster with a database `gapmap` and PostGIS; sets pg_dir,
#                           pg_port, pg_uri (postgresql://…/gapmap) and pg_dsn (GDAL's PG:…)
#   pg_load CITY_DIR        ogr2ogr CITY_DIR/{estates,facilities}.geojson into tables of those
#                           names (geometry column geom), printing the seconds each took; VACUUM
#   pg_stop                 stops the cluster and removes its directory (call it from the trap)
#   pg_psql ARGS…           psql on the cluster as postgres, ON_ERROR_STOP
# shellcheck shell=bash

pg_bin=/usr/lib/postgresql/15/bin
pg_dir=
pg_port=

pg_check() {
  local name=$1
  [[ -x $pg_bin/initdb && -f /usr/share/postgresql/15/extension/postgis.control ]] \
    || { echo "$name: PostgreSQL 15 / PostGIS 3 missing; run scripts/setup.sh" >&2; exit 1; }
  command -v ogr2ogr > /dev/null || { echo "$name: ogr2ogr missing; run scripts/setup.sh" >&2; exit 1; }
  [[ $(id -u) -eq 0 ]] || { echo "$name: run as root (the cluster is started as the postgres user with runuser)" >&2; exit 1; }
}

pg_psql() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres "$@"; }

pg_start() {
  pg_dir=$(mktemp -d /tmp/gapmap-bench-pg.XXXXXX)
  chown postgres:postgres "$pg_dir"
  chmod 700 "$pg_dir"
  pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  runuser -u postgres -- "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync > /dev/null
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$pg_dir -c fsync=off -c shared_buffers=256MB" start > /dev/null
  pg_psql -d postgres -c "CREATE DATABASE gapmap"
  pg_psql -d gapmap -c "CREATE EXTENSION postgis"
  pg_uri="postgresql://postgres@127.0.0.1:$pg_port/gapmap"
  pg_dsn="PG:host=127.0.0.1 port=$pg_port dbname=gapmap user=postgres"
}

pg_load() {
  local city=$1 layer start
  for layer in estates facilities; do
    start=$(date +%s.%N)
    ogr2ogr -f PostgreSQL "$pg_dsn" "$city/$layer.geojson" -nln "$layer" -lco GEOMETRY_NAME=geom --config PG_USE_COPY YES
    echo "ogr2ogr $layer into PostGIS: $(python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')") s"
  done
  pg_psql -d gapmap -c "VACUUM ANALYZE"
}

pg_stop() {
  [[ -n $pg_dir ]] || return 0
  if [[ -f $pg_dir/data/postmaster.pid ]]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop > /dev/null 2>&1 || true
  fi
  rm -rf "$pg_dir"
}
