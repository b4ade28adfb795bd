-- test/fuzz/driver.sql — the database side of the fuzzer (see run.sh).
--
-- Each input runs in its own BEGIN/EXCEPTION block, so that an error costs
-- that input only; its SQLSTATE and time are recorded.  Token inputs go
-- through tenancy.verify_token() and, in signed mode, through the check
-- hook of tenancy.context (set_config); permset inputs through the input
-- function, and what it accepts must read back as itself.
CREATE EXTENSION pg_tenancy;
CREATE SCHEMA fuzz;
CREATE TABLE fuzz.inputs (id int PRIMARY KEY, target text, kind text, input bytea);
CREATE TABLE fuzz.outcomes (id int, step text, sqlstate text, ms float8,
                            detail text);

-- The SQLSTATEs each step may end with: anything else is a finding.
--   22021  the input is not valid UTF-8 (the server refuses the text before
--          it reaches pg_tenancy)
--   28000  invalid context token
--   42501  a valid token for a user of no organization (the check hook)
--   22P02  every refusal of the permset input function, over-long names
--          and more than 65535 permissions included (permset.c raises
--          54000 for too many permissions only when sets are combined,
--          never on input)
CREATE TABLE fuzz.expected (target text, step text, sqlstate text);
INSERT INTO fuzz.expected VALUES
    ('token', 'decode', '00000'), ('token', 'decode', '22021'),
    ('token', 'verify', '00000'), ('token', 'verify', '28000'),
    ('token', 'context', '00000'), ('token', 'context', '28000'),
    ('token', 'context', '42501'),
    ('permset', 'decode', '00000'), ('permset', 'decode', '22021'),
    ('permset', 'parse', '00000'), ('permset', 'parse', '22P02');

CREATE FUNCTION fuzz.run(from_id int, to_id int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v text;
    t0 timestamptz;
    state text;
    det text;
    ps tenancy.permset;
BEGIN
    FOR r IN SELECT * FROM fuzz.inputs WHERE id BETWEEN from_id AND to_id ORDER BY id LOOP
        t0 := clock_timestamp();
        BEGIN
            v := convert_from(r.input, 'UTF8');
            state := '00000';
        EXCEPTION WHEN OTHERS THEN
            state := SQLSTATE;
            v := NULL;
        END;
        INSERT INTO fuzz.outcomes VALUES (r.id, 'decode', state,
            extract(epoch FROM clock_timestamp() - t0) * 1000);
        CONTINUE WHEN v IS NULL;

        IF r.target = 'token' THEN
            -- The claim paths: top-level and nested, for the user and the
            -- tenant (the generator nests members under "x").
            PERFORM set_config('tenancy.tenant_claim',
                               CASE WHEN r.id % 2 = 0 THEN 'tenant' ELSE 'x.tenant' END, true),
                    set_config('tenancy.user_claim',
                               CASE WHEN r.id % 4 = 3 THEN 'x.sub' ELSE 'sub' END, true);
            t0 := clock_timestamp();
            BEGIN
                PERFORM * FROM tenancy.verify_token(v);
                state := '00000';
                det := NULL;
            EXCEPTION WHEN OTHERS THEN
                state := SQLSTATE;
                GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL;
            END;
            -- The detail says which check refused it: what the fuzzer reaches.
            INSERT INTO fuzz.outcomes VALUES (r.id, 'verify', state,
                extract(epoch FROM clock_timestamp() - t0) * 1000, det);
            t0 := clock_timestamp();
            BEGIN
                PERFORM pg_catalog.set_config('tenancy.context', v, true);
                state := '00000';
            EXCEPTION WHEN OTHERS THEN
                state := SQLSTATE;
            END;
            INSERT INTO fuzz.outcomes VALUES (r.id, 'context', state,
                extract(epoch FROM clock_timestamp() - t0) * 1000);
        ELSE
            t0 := clock_timestamp();
            BEGIN
                ps := v::tenancy.permset;
                -- What is accepted reads back as itself.
                IF ps::text::tenancy.permset::text IS DISTINCT FROM ps::text THEN
                    state := 'ROUND';
                ELSE
                    state := '00000';
                END IF;
            EXCEPTION WHEN OTHERS THEN
                state := SQLSTATE;
            END;
            INSERT INTO fuzz.outcomes VALUES (r.id, 'parse', state,
                extract(epoch FROM clock_timestamp() - t0) * 1000);
        END IF;
    END LOOP;
END
$$;
