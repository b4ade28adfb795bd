# test/citus/probe_sync.sh WORKDIR: copy the hierarchy to the workers (triggers off), for protect.sh
W=$1
. "$W/env"
P="$PG_BIN/psql -X -h 127.0.0.1 -d $CITUS_DB"
C()  { $P -p "$COORD_PORT" -U postgres "$@" 2>&1; }
tables=$(C -At -c "SELECT string_agg(format('%I.%I', schemaname, tablename), ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'tenancy'")
for port in "$W1_PORT" "$W2_PORT"; do
    PGOPTIONS='-c session_replication_role=replica' $P -p "$port" -U postgres -q -c "TRUNCATE $(echo "$tables" | sed 's/ /, /g') CASCADE" >/dev/null
    for t in $tables; do
        C -c "COPY $t TO STDOUT" | PGOPTIONS='-c session_replication_role=replica' $P -p "$port" -U postgres -q -c "COPY $t FROM STDIN"
    done
done
