--
-- tenancy.permset
--
CREATE EXTENSION pg_tenancy;
SET search_path TO tenancy, public;

-- Reports the outcome of a text-to-permset cast on one line, with the
-- SQLSTATE and the detail when it fails.
CREATE FUNCTION pg_temp.try_permset(input text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
    detail text;
BEGIN
    RETURN input::tenancy.permset::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE,
                            msg = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
    RETURN state || ' ' || msg || ' / ' || detail;
END
$$;

-- The same for allows().
CREATE FUNCTION pg_temp.try_allows(ps tenancy.permset, perm text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
    detail text;
BEGIN
    RETURN tenancy.allows(ps, perm)::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE,
                            msg = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
    RETURN state || ' ' || msg || ' / ' || detail;
END
$$;

--
-- Text input and canonical output
--
SELECT '{}'::permset;
SELECT '{pipeline:read}'::permset;
SELECT '{pipeline:update,model:read,pipeline:read}'::permset;
-- whitespace around braces and elements
SELECT '  {  pipeline:read ,	model:read	,
  team:invite }  '::permset;
SELECT ' { } '::permset;
-- duplicates
SELECT '{a:b,a:b,a:b}'::permset;
-- wildcard absorption
SELECT '{pipeline:read,*:read}'::permset;
SELECT '{*:*,a:b}'::permset;
SELECT '{a:b,a:*,a:c,b:c}'::permset;
SELECT '{a:b,*:b,a:*}'::permset;
SELECT '{*:b,a:*,*:*}'::permset;
SELECT '{*:read,pipeline:*}'::permset;
-- bytewise order: "*" < digits < "_" < letters, a prefix sorts first
SELECT '{b:x,_a:x,a1:x,a:x,a_:x,*:y,ab:x}'::permset;
-- names: underscore start, digits, 63 bytes
SELECT '{_:_,x9:y_9,_1:a}'::permset;
SELECT ('{' || repeat('t', 63) || ':' || repeat('a', 63) || '}')::permset
    = ('{' || repeat('t', 63) || ':' || repeat('a', 63) || '}')::permset
    AS long_names_ok;
-- NULL is just NULL
SELECT NULL::permset IS NULL AS is_null;

-- Every class of malformed input fails with 22P02 and a detail
SELECT input, pg_temp.try_permset(input) AS result
FROM (VALUES
    (''),
    ('   '),
    ('pipeline:read'),
    ('pipeline:read}'),
    ('{pipeline:read'),
    ('{pipeline:read,'),
    ('{'),
    ('}'),
    ('{pipeline}'),
    ('{pipeline:}'),
    ('{:read}'),
    ('{:}'),
    ('{a:b:c}'),
    ('{,}'),
    ('{,a:b}'),
    ('{a:b,,c:d}'),
    ('{a:b,}'),
    ('{a:b , }'),
    ('{a:b c:d}'),
    ('{a:b}x'),
    ('{a:b} }'),
    ('{a:b}{c:d}'),
    ('{{a:b}}'),
    ('{Pipeline:read}'),
    ('{pipeline:Read}'),
    ('{pipe-line:read}'),
    ('{pipeline:re ad}'),
    ('{1pipeline:read}'),
    ('{pipeline:9}'),
    ('{**:read}'),
    ('{pipe*:read}'),
    ('{"a":b}'),
    ('{' || repeat('t', 64) || ':read}'),
    ('{pipeline:' || repeat('a', 64) || '}')
) AS t(input);

-- How a user sees one of them
SELECT '{pipeline}'::permset;
SELECT '{Pipeline:read}'::permset;

-- At most 65535 permissions
SELECT permset_count(('{' || string_agg('t' || i || ':a', ',') || '}')::permset)
FROM generate_series(1, 65535) AS i;
SELECT pg_temp.try_permset('{' || string_agg('t' || i || ':a', ',') || '}')
    LIKE '22P02 invalid input syntax for type permset: %'
        || ' / A permset can hold at most 65535 permissions.' AS too_many
FROM generate_series(1, 65536) AS i;
-- ... after canonicalization: duplicates and covered entries do not count
SELECT ('{' || string_agg('t' || (i % 3) || ':a', ',') || '}')::permset
FROM generate_series(1, 300000) AS i;
SELECT ('{*:a,' || string_agg('t' || i || ':a', ',') || '}')::permset
FROM generate_series(1, 100000) AS i;

--
-- Equality, ordering and hashing
--
SELECT '{a:b,c:d}'::permset = '{ c:d, a:b, a:b }'::permset AS eq,
       '{a:b,c:d}'::permset <> '{c:d,a:b}'::permset AS ne,
       '{a:b}'::permset = '{a:b,a:c}'::permset AS eq2,
       '{a:b,*:b}'::permset = '{*:b}'::permset AS eq_absorbed;
SELECT '{}'::permset < '{*:*}'::permset AS lt,
       '{*:*}'::permset < '{a:b}'::permset AS lt2,
       '{a:b}'::permset < '{a:b,a:c}'::permset AS lt_prefix,
       '{a:c}'::permset > '{a:b,a:c}'::permset AS gt,
       '{a:b}'::permset <= '{a:b}'::permset AS le,
       '{a:b}'::permset >= '{a:b}'::permset AS ge,
       permset_cmp('{a:b}', '{a:c}') AS cmp_lt,
       permset_cmp('{a:b}', '{ a:b }') AS cmp_eq,
       permset_cmp('{b:a}', '{a:z}') AS cmp_gt;
SELECT permset_hash('{a:b,c:d}') = permset_hash('{c:d,a:b,c:d}') AS hash_eq,
       permset_hash_extended('{a:b,c:d}', 42)
           = permset_hash_extended('{c:d,a:b}', 42) AS hash_ext_eq;

CREATE TABLE permset_test (id int, ps permset);
INSERT INTO permset_test VALUES
    (1, '{pipeline:read}'),
    (2, '{model:read,pipeline:read}'),
    (3, '{pipeline:read,model:read}'),
    (4, '{*:read,pipeline:read}'),
    (5, '{*:read}'),
    (6, '{}'),
    (7, '{*:*}'),
    (8, '{pipeline:*,model:read}'),
    (9, NULL),
    (10, '{ pipeline:read }');

SELECT DISTINCT ps FROM permset_test ORDER BY ps;
SELECT ps, count(*), array_agg(id ORDER BY id) AS ids
FROM permset_test GROUP BY ps ORDER BY ps DESC;

-- hash aggregation and hash join give the same answers
SET enable_sort = off;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF)
SELECT ps, count(*) FROM permset_test GROUP BY ps;
SELECT ps, count(*) FROM permset_test GROUP BY ps ORDER BY 1;
EXPLAIN (COSTS OFF)
SELECT a.id, b.id FROM permset_test a JOIN permset_test b USING (ps)
WHERE a.id < b.id;
SELECT a.id, b.id FROM permset_test a JOIN permset_test b USING (ps)
WHERE a.id < b.id ORDER BY 1, 2;
RESET enable_sort;
RESET enable_mergejoin;
RESET enable_nestloop;

-- btree and hash indexes
CREATE INDEX permset_test_btree ON permset_test (ps);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM permset_test WHERE ps = '{model:read,pipeline:read}';
SELECT id FROM permset_test WHERE ps = '{model:read,pipeline:read}' ORDER BY id;
EXPLAIN (COSTS OFF)
SELECT id FROM permset_test WHERE ps < '{model:read}' ORDER BY ps;
SELECT id, ps FROM permset_test WHERE ps < '{model:read}' ORDER BY ps, id;
CREATE INDEX permset_test_hash ON permset_test USING hash (ps);
DROP INDEX permset_test_btree;
EXPLAIN (COSTS OFF)
SELECT id FROM permset_test WHERE ps = '{ pipeline:read , pipeline:read }';
SELECT id FROM permset_test WHERE ps = '{ pipeline:read , pipeline:read }'
ORDER BY id;
RESET enable_seqscan;
RESET enable_bitmapscan;
-- a unique index sees through spelling
CREATE UNIQUE INDEX permset_test_unique ON permset_test (ps) WHERE id > 8;
INSERT INTO permset_test VALUES (11, '{pipeline:read,pipeline:read}');

--
-- Containment
--
SELECT a::permset, b::permset, a::permset @> b::permset AS contains,
       a::permset <@ b::permset AS contained
FROM (VALUES
    ('{}', '{}'),
    ('{a:b}', '{}'),
    ('{}', '{a:b}'),
    ('{a:b,c:d}', '{a:b}'),
    ('{a:b}', '{a:b,c:d}'),
    ('{a:*}', '{a:b,a:c}'),
    ('{a:b,a:c}', '{a:*}'),
    ('{*:b}', '{a:b,c:b}'),
    ('{*:b}', '{a:*}'),
    ('{*:*}', '{a:*,*:b,c:d}'),
    ('{a:*,*:b}', '{*:*}'),
    ('{a:*,*:b}', '{a:b,a:c,d:b}'),
    ('{a:*,*:b}', '{d:c}')
) AS t(a, b);

--
-- Union
--
SELECT '{a:b}'::permset + '{c:d}'::permset AS u1,
       '{c:d}'::permset + '{a:b}'::permset AS u2,
       '{a:b,c:d}'::permset + '{}'::permset AS u3,
       '{a:b,c:d}'::permset + '{*:d}'::permset AS u4,
       '{a:b,c:d}'::permset + '{a:*,*:b}'::permset AS u5,
       '{a:b}'::permset + '{*:*}'::permset AS u6,
       permset_union('{x:y}', '{x:z}') AS u7;
-- too large a union
SELECT permset_count(a + a) AS self_union, permset_count(a + b) AS too_many
FROM (SELECT ('{' || string_agg('t' || i || ':a', ',') || '}')::permset AS a
      FROM generate_series(1, 40000) AS i) AS s1,
     (SELECT ('{' || string_agg('t' || i || ':b', ',') || '}')::permset AS b
      FROM generate_series(1, 30000) AS i) AS s2;
SELECT permset_count(a + a) AS self_union, permset_count(a + b) AS union_ok
FROM (SELECT ('{' || string_agg('t' || i || ':a', ',') || '}')::permset AS a
      FROM generate_series(1, 40000) AS i) AS s1,
     (SELECT ('{' || string_agg('t' || i || ':b', ',') || '}')::permset AS b
      FROM generate_series(1, 25535) AS i) AS s2;

--
-- allows()
--
SELECT perm, pg_temp.try_allows('{pipeline:read,model:*,*:list}', perm) AS result
FROM (VALUES
    ('pipeline:read'),
    ('pipeline:update'),
    ('model:read'),
    ('model:delete'),
    ('model:*'),
    ('pipeline:*'),
    ('team:list'),
    ('*:list'),
    ('*:read'),
    ('*:*'),
    ('pipeline'),
    ('Pipeline:read'),
    (' pipeline:read'),
    ('pipeline:read:x'),
    (':read'),
    ('pipeline:'),
    ('')
) AS t(perm);
SELECT allows('{*:*}', '*:*') AS all_all, allows('{*:*}', 'x:y') AS all_one,
       allows('{}', 'x:y') AS empty, allows('{*:read}', '*:read') AS any_read,
       allows(NULL, 'x:y') AS null_set, allows('{x:y}', NULL) AS null_perm;
SELECT allows('{a:b}', 'a b');

--
-- permset_agg
--
SELECT permset_agg(ps) FROM permset_test;
SELECT permset_agg(ps) FROM permset_test WHERE id IN (1, 2, 8);
SELECT permset_agg(ps) FROM permset_test WHERE false;
SELECT permset_agg(ps) FROM permset_test WHERE ps IS NULL;
SELECT id % 2 AS odd, permset_agg(ps) FROM permset_test GROUP BY 1 ORDER BY 1;
SELECT permset_agg(('{t' || (i % 7) || ':a' || (i % 5) || '}')::permset)
FROM generate_series(1, 10000) AS i;

--
-- permset_elements and permset_count
--
SELECT permset_elements('{team:invite, *:read, pipeline:read, model:*}');
SELECT count(*) FROM permset_elements('{}');
SELECT count(*) FROM permset_elements(NULL);
SELECT id, e FROM permset_test, permset_elements(ps) AS e
WHERE id <= 3 ORDER BY id, e;
SELECT permset_count('{}'), permset_count('{a:b,a:b,c:d}'),
       permset_count('{a:b,*:*}');
-- elements read back in give the same set
SELECT ('{' || string_agg(e, ',') || '}')::permset
FROM permset_elements('{z:z,a:*,*:q,m:n}') AS e;

--
-- Binary I/O
--
CREATE TABLE permset_rt (id int, ps permset);
COPY permset_test TO '/tmp/pg_tenancy_permset_rt.bin' (FORMAT binary);
COPY permset_rt FROM '/tmp/pg_tenancy_permset_rt.bin' (FORMAT binary);
SELECT t.id, t.ps, r.ps, t.ps IS NOT DISTINCT FROM r.ps AS same
FROM permset_test t JOIN permset_rt r USING (id) ORDER BY id;

-- The wire format, seen through a bytea column written in binary COPY and
-- read back as permset: version 1, flags 0, uint16 count, then each entry
-- as typelen, actlen, type, action.
CREATE FUNCTION pg_temp.recv_permset(payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
    detail text;
    result text;
BEGIN
    EXECUTE format('COPY (SELECT %L::bytea) TO %L (FORMAT binary)',
                   payload, '/tmp/pg_tenancy_permset_recv.bin');
    CREATE TEMP TABLE recv_target (ps tenancy.permset);
    BEGIN
        EXECUTE format('COPY recv_target FROM %L (FORMAT binary)',
                       '/tmp/pg_tenancy_permset_recv.bin');
        SELECT ps::text INTO result FROM recv_target;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE,
                                msg = MESSAGE_TEXT,
                                detail = PG_EXCEPTION_DETAIL;
        result := state || ' ' || msg || ' / ' || detail;
    END;
    DROP TABLE recv_target;
    RETURN result;
END
$$;

-- well-formed payloads, canonical or not
SELECT descr, pg_temp.recv_permset(payload::bytea) AS result
FROM (VALUES
    ('empty',           '\x01000000'),
    ('one',             '\x0100000101016162'),
    ('unsorted',        '\x010000020101636401016162'),
    ('duplicate',       '\x010000020101616201016162'),
    ('covered',         '\x0100000201016162' || '0101' || '2a62'),
    ('wildcards',       '\x01000001' || '0101' || '2a2a')
) AS t(descr, payload);

-- corrupt payloads: all 22P03 (COPY itself rejects trailing bytes)
SELECT descr, pg_temp.recv_permset(payload::bytea) AS result
FROM (VALUES
    ('no data',         '\x'),
    ('short header',    '\x010000'),
    ('version 0',       '\x00000000'),
    ('version 2',       '\x02000000'),
    ('flags',           '\x01010000'),
    ('count too big',   '\x01000001'),
    ('short entry',     '\x0100000101'),
    ('short names',     '\x01000001010261'),
    ('count too big 2', '\x010000020101616201'),
    ('empty type',      '\x010000010001' || '61'),
    ('empty action',    '\x010000010100' || '61'),
    ('long type',       '\x0100000140' || '01' || repeat('61', 64) || '61'),
    ('long action',     '\x010000010140' || '61' || repeat('61', 64)),
    ('upper case',      '\x0100000101014162'),
    ('digit first',     '\x0100000101013162'),
    ('NUL byte',        '\x0100000101010062'),
    ('high bit',        '\x01000001010261ff62'),
    ('colon',           '\x010000010301613a6162'),
    ('trailing data',   '\x0100000101016162ff')
) AS t(descr, payload);

-- binary COPY of a long name round-trips
DELETE FROM permset_rt;
INSERT INTO permset_test VALUES
    (12, ('{' || repeat('t', 63) || ':*,' || repeat('u', 63) || ':'
          || repeat('a', 63) || '}')::permset);
COPY (SELECT id, ps FROM permset_test WHERE id = 12)
    TO '/tmp/pg_tenancy_permset_rt.bin' (FORMAT binary);
COPY permset_rt FROM '/tmp/pg_tenancy_permset_rt.bin' (FORMAT binary);
SELECT r.ps = t.ps AS same, permset_count(r.ps)
FROM permset_rt r JOIN permset_test t USING (id);

DROP TABLE permset_test, permset_rt;
DROP FUNCTION pg_temp.try_permset(text);
DROP FUNCTION pg_temp.try_allows(tenancy.permset, text);
DROP FUNCTION pg_temp.recv_permset(bytea);
DROP EXTENSION pg_tenancy;
