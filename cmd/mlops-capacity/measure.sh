#!/bin/bash
# The measurements of docs/capacity.md, on a scratch PostgreSQL database that
# this script creates and drops again (psql as PGUSER on PGHOST:PGPORT,
# default postgres@127.0.0.1:5432). Run from the repository's root:
#
#   cmd/mlops-capacity/measure.sh load predictions FILE   # mlops import FILE: table, index and WAL bytes, CPU
#   cmd/mlops-capacity/measure.sh load metrics FILE
#   cmd/mlops-capacity/measure.sh http                    # mlops serve under batch and single POSTs: CPU per row
#
# FILE comes from go run ./cmd/mlops-capacity. `http` needs wrk, and the
# batches made by `batches FILE` (100 bodies of 10,000 predictions in
# $WORK/batches). CPU times are read from /proc: run as root or as the
# postgres OS user, on the machine of the PostgreSQL server.
set -euo pipefail
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=${DB:-mlops_capacity}
WORK=${WORK:-/tmp/mlops-capacity}
mkdir -p "$WORK"
MLOPS=$WORK/mlops
P="psql -qAt -v ON_ERROR_STOP=1"
export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB?sslmode=disable"

fresh() { # a new scratch database, migrated, with five model versions
	[ -x "$MLOPS" ] || go build -o "$MLOPS" ./cmd/mlops
	$P -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
	"$MLOPS" migrate upgrade >/dev/null
	$P -d "$DB" -c "INSERT INTO model_versions (model_name, version, algorithm, created_at)
		SELECT 'churn', 'v' || g, 'rf', now() FROM generate_series(1, 5) g"
}
lsn() { $P -d "$DB" -c "SELECT pg_current_wal_lsn()"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # user + system, 1/100 s
backend_ticks() { # the sum over the scratch database's backends
	local sum=0 p
	for p in $($P -d postgres -c "SELECT pid FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid()"); do
		sum=$((sum + $(ticks "$p")))
	done
	echo $sum
}
sizes() {
	$P -d "$DB" -F ' ' -c "SELECT c.relname, pg_relation_size(c.oid),
		coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) AS toast
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') AND pg_relation_size(c.oid) > 16384 ORDER BY 2 DESC"
}

case ${1:-} in
load)
	kind=$2 file=$3
	fresh
	$P -d "$DB" -c CHECKPOINT
	l0=$(lsn)
	# Backends end with the import: sample their CPU every 0.1 s, keep the last value per pid.
	(while :; do
		for p in $($P -d postgres -c "SELECT pid FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid()"); do
			echo "$p $(ticks "$p")"
		done
		sleep 0.1
	done >"$WORK/backends.cpu") &
	sampler=$!
	/usr/bin/time -f 'import process: %U s user + %S s system CPU, %e s wall' "$MLOPS" import "$kind" "$file" 2>&1 | tail -2
	kill $sampler
	l1=$(lsn)
	awk '{last[$1] = $2} END {for (p in last) s += last[p]; printf "postgres backends: %.2f s CPU\n", s / 100}' "$WORK/backends.cpu"
	echo "WAL $l0 .. $l1: $($P -d "$DB" -c "SELECT pg_wal_lsn_diff('$l1', '$l0')") bytes"
	echo "relation bytes toast:"
	sizes
	;;
batches)
	mkdir -p "$WORK/batches"
	split -l 10000 -d -a 3 "$2" "$WORK/batches/b"
	for f in "$WORK"/batches/b???; do
		{ printf '{"predictions":['; paste -sd, "$f"; printf ']}'; } >"$f.json" && rm "$f"
	done
	;;
http)
	fresh
	addr=127.0.0.1:18080 api=http://127.0.0.1:18080/api/v1
	"$MLOPS" serve --addr $addr >"$WORK/serve.log" 2>&1 &
	server=$!
	trap 'kill $server' EXIT
	until curl -sf http://$addr/readyz >/dev/null; do sleep 0.2; done
	cat >"$WORK/post.lua" <<-'EOF'
		wrk.method = "POST"
		wrk.headers["Content-Type"] = "application/json"
		wrk.body = '{"model_id":1,"features":{"age":42,"tenure_months":17.5,"monthly_charges":70,"total_charges":1190.35,"num_products":3,"support_calls":2.25,"days_since_login":4},"prediction":1,"probability":0.87,"latency_ms":12.5}'
	EOF
	rows() { $P -d "$DB" -c "SELECT count(*) FROM predictions"; }
	step() { # name, command: rows, rows/s, server and PostgreSQL CPU per row, WAL range
		local r0 s0 b0 t0 l0 r1 s1 b1 t1 l1
		r0=$(rows) l0=$(lsn) s0=$(ticks $server) b0=$(backend_ticks) t0=$(date +%s.%N)
		eval "$2" >/dev/null
		t1=$(date +%s.%N) s1=$(ticks $server) b1=$(backend_ticks) r1=$(rows) l1=$(lsn)
		awk -v n="$1" -v r=$((r1 - r0)) -v t0="$t0" -v t1="$t1" -v s=$((s1 - s0)) -v b=$((b1 - b0)) 'BEGIN {
			printf "%s: %d rows in %.1f s = %.0f rows/s; server %.1f us CPU/row; postgres %.1f us CPU/row\n",
				n, r, t1 - t0, r / (t1 - t0), s * 1e4 / r, b * 1e4 / r }'
		echo "  WAL $l0 .. $l1 (database oid $($P -d "$DB" -c "SELECT oid FROM pg_database WHERE datname = current_database()"))"
	}
	step "batches of 10,000, 1 client" 'for f in "$WORK"/batches/b0[0-4]?.json; do curl -s -o /dev/null -H "Content-Type: application/json" --data-binary @$f $api/predictions/batch; done'
	step "single POSTs, 16 clients" "wrk -t2 -c16 -d20s -s $WORK/post.lua $api/predictions"
	step "single POSTs, 64 clients" "wrk -t2 -c64 -d20s -s $WORK/post.lua $api/predictions"
	;;
drop)
	$P -d postgres -c "DROP DATABASE IF EXISTS $DB"
	;;
*)
	sed -n '2,13p' "$0"
	exit 2
	;;
esac
