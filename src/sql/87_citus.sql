-- ---------------------------------------------------------------------------
-- Citus: the hierarchy on every node (src/citus.c tells the whole design).
--
-- The coordinator publishes the schema tenancy; each worker subscribes to
-- it and holds a read-only copy.  tenancy.hierarchy_epoch counts the
-- transactions that changed the hierarchy on the coordinator; a worker
-- whose copy is older than the version a query's context was decided on
-- refuses to decide.  Without Citus none of this does anything.
-- ---------------------------------------------------------------------------

CREATE TABLE tenancy.hierarchy_epoch (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch     bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0)
);
COMMENT ON TABLE tenancy.hierarchy_epoch IS
    'The version of the hierarchy: one more for each transaction that changed it on a Citus coordinator.';
INSERT INTO tenancy.hierarchy_epoch DEFAULT VALUES;

-- On a worker the apply worker writes the copy, with every trigger off but
-- the ones enabled for replicas: this one drops the decisions cached by
-- every backend of the worker when a change of the coordinator's arrives
-- (each carries a new version).
CREATE TRIGGER invalidate_cache AFTER INSERT OR UPDATE ON tenancy.hierarchy_epoch
    FOR EACH ROW EXECUTE FUNCTION tenancy._invalidate_cache();
ALTER TABLE tenancy.hierarchy_epoch ENABLE REPLICA TRIGGER invalidate_cache;

CREATE FUNCTION tenancy._hierarchy_changed() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'tenancy_hierarchy_changed';

-- Every table of the hierarchy but the version itself: each statement
-- advances the version (once a transaction, on a coordinator), each row
-- written on a worker other than by replication is refused.
DO $$
DECLARE
    t name;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_catalog.pg_class c
        WHERE c.relnamespace = 'tenancy'::regnamespace AND c.relkind = 'r'
          AND c.relname <> 'hierarchy_epoch'
        ORDER BY c.relname
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER hierarchy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
               ON tenancy.%I FOR EACH STATEMENT EXECUTE FUNCTION tenancy._hierarchy_changed()', t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER hierarchy_read_only BEFORE INSERT OR UPDATE OR DELETE
               ON tenancy.%I FOR EACH ROW EXECUTE FUNCTION tenancy._hierarchy_changed()', t);
    END LOOP;
END
$$;

-- On a cluster set up with tenancy.citus_setup(), a protected table must
-- exist on the workers too (their copy of tenancy.protected_tables names
-- it): a Citus table by the end of the transaction that protects it.
CREATE FUNCTION tenancy._citus_check_protected() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    known boolean;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL
       OR NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'tenancy_hierarchy')
       OR NOT EXISTS (SELECT FROM tenancy.protected_tables WHERE relid = NEW.relid) THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
        INTO known USING NEW.relid;
    IF NOT known THEN
        RAISE EXCEPTION 'cannot protect table %: it is not a Citus table', NEW.relid
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The workers'' copy of the hierarchy names every protected table, which must exist there.',
                  HINT = 'In the transaction that protects it, distribute it (create_distributed_table), make it a reference table, or add it to Citus''s metadata (citus_add_local_table_to_metadata).';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER citus_check_protected AFTER INSERT OR UPDATE ON tenancy.protected_tables
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION tenancy._citus_check_protected();

-- One command on a node of the cluster, in a connection of its own (not
-- in this transaction): its result, or an error naming the node.
CREATE FUNCTION tenancy._citus_run(host text, port integer, command text) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ok boolean;
    res text;
BEGIN
    EXECUTE 'SELECT success, result FROM pg_catalog.master_run_on_worker($1, $2, $3, false)'
        INTO ok, res USING ARRAY[host], ARRAY[port], ARRAY[command];
    IF NOT ok THEN
        RAISE EXCEPTION 'pg_tenancy set-up failed on node %:%', host, port
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = res;
    END IF;
    RETURN res;
END
$$;

-- tenancy.citus_setup(): on the coordinator, makes every worker hold the
-- hierarchy and keep it; again after citus_add_node() for the new node.
-- It works through connections of its own (its transaction writes nothing
-- until the end: creating a replication slot waits for every transaction
-- that has written), and the coordinator must be in Citus's metadata
-- (citus_set_coordinator_host), so that the workers can reach it.
CREATE FUNCTION tenancy.citus_setup()
RETURNS TABLE (node text, subscription name, status text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    coord record;
    w record;
    slot name;
    names text[] := '{}';
    tables text;
    standby text;
    current_standby text := current_setting('synchronous_standby_names');
    deadline timestamptz;
    pending text;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to set up pg_tenancy on Citus'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'It creates replication slots and subscriptions and changes the server''s configuration.',
                  HINT = 'Run it as a superuser.';
    END IF;
    IF to_regclass('pg_catalog.pg_dist_local_group') IS NULL THEN
        RAISE EXCEPTION 'Citus is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'CREATE EXTENSION citus first, with citus first in shared_preload_libraries.';
    END IF;
    IF (SELECT groupid FROM pg_dist_local_group) <> 0 THEN
        RAISE EXCEPTION 'tenancy.citus_setup() must run on the coordinator'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF current_setting('wal_level') <> 'logical' THEN
        RAISE EXCEPTION 'wal_level must be logical on the coordinator'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The workers'' copies of the hierarchy are kept by logical replication.',
                  HINT = 'ALTER SYSTEM SET wal_level = logical, and restart the coordinator.';
    END IF;
    IF current_standby <> '' AND current_standby !~ '^ANY [0-9]+ \(tenancy_node_[0-9]+(, tenancy_node_[0-9]+)*\)$' THEN
        RAISE EXCEPTION 'synchronous_standby_names is set already'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('pg_tenancy lists the workers'' subscriptions there; it holds %L.', current_standby),
                  HINT = 'Clear it, or combine it by hand with the subscriptions tenancy.citus_setup() creates.';
    END IF;
    SELECT nodename, nodeport INTO coord
    FROM pg_dist_node WHERE groupid = 0 AND noderole = 'primary';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the coordinator is not in Citus''s metadata'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT citus_set_coordinator_host(''<host the workers reach it at>'', <port>);';
    END IF;

    SELECT string_agg(p.relid::text, ', ' ORDER BY p.relid::text) INTO pending
    FROM tenancy.protected_tables p
    WHERE NOT EXISTS (SELECT FROM pg_dist_partition d WHERE d.logicalrelid = p.relid);
    IF pending IS NOT NULL THEN
        RAISE EXCEPTION 'protected tables that are not Citus tables: %', pending
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The workers'' copy of the hierarchy names every protected table, which must exist there.',
                  HINT = 'Distribute them, make them reference tables, add them to Citus''s metadata (citus_add_local_table_to_metadata), or unprotect them.';
    END IF;

    SELECT string_agg(format('tenancy.%I', c.relname), ', ' ORDER BY c.relname) INTO tables
    FROM pg_class c WHERE c.relnamespace = 'tenancy'::regnamespace AND c.relkind = 'r';

    IF NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'tenancy_hierarchy') THEN
        PERFORM tenancy._citus_run(coord.nodename, coord.nodeport,
            'SET citus.enable_ddl_propagation = off; '
            'CREATE PUBLICATION tenancy_hierarchy FOR TABLES IN SCHEMA tenancy; '
            'UPDATE tenancy.hierarchy_epoch SET epoch = epoch + 1');
    END IF;

    FOR w IN
        SELECT nodeid, nodename, nodeport FROM pg_dist_node
        WHERE groupid <> 0 AND noderole = 'primary' AND isactive
        ORDER BY nodeid
    LOOP
        slot := 'tenancy_node_' || w.nodeid;
        names := names || slot::text;
        IF tenancy._citus_run(w.nodename, w.nodeport,
               format('SELECT count(*) FROM pg_subscription WHERE subname = %L', slot)) = '0' THEN
            IF NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = slot) THEN
                PERFORM tenancy._citus_run(coord.nodename, coord.nodeport,
                    format('SELECT pg_create_logical_replication_slot(%L, ''pgoutput'')', slot));
            END IF;
            -- The worker's own rows (the built-in ones CREATE EXTENSION
            -- wrote) give way to the coordinator's.
            PERFORM tenancy._citus_run(w.nodename, w.nodeport, format(
                'SET session_replication_role = replica; '
                'SET citus.enable_ddl_propagation = off; '
                'TRUNCATE %s; '
                'CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION tenancy_hierarchy '
                'WITH (create_slot = false, slot_name = %L, copy_data = true)',
                tables, slot,
                format('host=%s port=%s dbname=%s user=%s application_name=%s',
                       coord.nodename, coord.nodeport, quote_ident(current_database()),
                       quote_ident(current_user), slot),
                slot));
        END IF;
    END LOOP;

    -- The first copy of every table.
    deadline := clock_timestamp() + interval '5 minutes';
    FOR w IN
        SELECT nodeid, nodename, nodeport FROM pg_dist_node
        WHERE groupid <> 0 AND noderole = 'primary' AND isactive
        ORDER BY nodeid
    LOOP
        slot := 'tenancy_node_' || w.nodeid;
        LOOP
            pending := tenancy._citus_run(w.nodename, w.nodeport, format(
                'SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid'
                ' WHERE s.subname = %L AND r.srsubstate <> ''r''', slot));
            EXIT WHEN pending = '0';
            IF clock_timestamp() > deadline THEN
                RAISE EXCEPTION 'the first copy of the hierarchy on node %:% did not finish', w.nodename, w.nodeport
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = format('%s tables are still being copied.', pending),
                          HINT = 'See the worker''s log; max_replication_slots and max_wal_senders on the coordinator, max_logical_replication_workers on the worker.';
            END IF;
            PERFORM pg_sleep(0.1);
        END LOOP;
    END LOOP;

    -- Commits that change the hierarchy wait until every worker applied
    -- them (citus.c raises synchronous_commit for those alone; the others
    -- keep what they had: "on" without standbys meant "local").
    standby := CASE WHEN cardinality(names) = 0 THEN ''
                    ELSE format('ANY %s (%s)', cardinality(names), array_to_string(names, ', ')) END;
    IF standby <> current_standby THEN
        PERFORM tenancy._citus_run(coord.nodename, coord.nodeport,
            format('ALTER SYSTEM SET synchronous_standby_names = %L', standby));
        IF current_setting('synchronous_commit') = 'on' AND current_standby = '' THEN
            PERFORM tenancy._citus_run(coord.nodename, coord.nodeport,
                'ALTER SYSTEM SET synchronous_commit = local');
        END IF;
        PERFORM pg_reload_conf();
    END IF;

    -- Back only once the coordinator's commits wait for every worker.
    deadline := clock_timestamp() + interval '1 minute';
    LOOP
        pending := tenancy._citus_run(coord.nodename, coord.nodeport, format(
            'SELECT count(*) FROM unnest(%L::text[]) a(name) WHERE NOT EXISTS ('
            ' SELECT FROM pg_stat_replication r WHERE r.application_name = a.name'
            ' AND r.state = ''streaming'' AND r.sync_state IN (''sync'', ''quorum''))', names));
        EXIT WHEN pending = '0';
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION '% workers do not stream the hierarchy synchronously', pending
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'See pg_stat_replication on the coordinator and the workers'' logs.';
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;

    -- Slots of nodes no longer in the cluster would keep WAL forever.
    FOR slot IN
        SELECT s.slot_name FROM pg_replication_slots s
        WHERE s.slot_name ~ '^tenancy_node_[0-9]+$' AND NOT s.active
          AND s.slot_name <> ALL (names)
    LOOP
        PERFORM tenancy._citus_run(coord.nodename, coord.nodeport,
            format('SELECT pg_drop_replication_slot(%L)', slot));
    END LOOP;

    RETURN QUERY
    SELECT format('%s:%s', n.nodename, n.nodeport), ('tenancy_node_' || n.nodeid)::name, 'ready'::text
    FROM pg_dist_node n
    WHERE n.groupid <> 0 AND n.noderole = 'primary' AND n.isactive
    ORDER BY n.nodeid;
END
$$;
COMMENT ON FUNCTION tenancy.citus_setup() IS
    'On a Citus coordinator: gives every worker a copy of the hierarchy kept by synchronous logical replication; run again after citus_add_node().';
