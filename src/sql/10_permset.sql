-- tenancy.permset: a canonical set of "resource_type:action" permissions.

CREATE TYPE tenancy.permset;

CREATE FUNCTION tenancy.permset_in(cstring)
RETURNS tenancy.permset
AS 'MODULE_PATHNAME', 'permset_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_out(tenancy.permset)
RETURNS cstring
AS 'MODULE_PATHNAME', 'permset_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_recv(internal)
RETURNS tenancy.permset
AS 'MODULE_PATHNAME', 'permset_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_send(tenancy.permset)
RETURNS bytea
AS 'MODULE_PATHNAME', 'permset_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE tenancy.permset (
    INPUT = tenancy.permset_in,
    OUTPUT = tenancy.permset_out,
    RECEIVE = tenancy.permset_recv,
    SEND = tenancy.permset_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = int4,
    STORAGE = extended
);

COMMENT ON TYPE tenancy.permset IS
    'set of resource_type:action permissions, where either part may be the wildcard *';
COMMENT ON FUNCTION tenancy.permset_in(cstring) IS
    'text input function of type permset';
COMMENT ON FUNCTION tenancy.permset_out(tenancy.permset) IS
    'text output function of type permset';
COMMENT ON FUNCTION tenancy.permset_recv(internal) IS
    'binary input function of type permset';
COMMENT ON FUNCTION tenancy.permset_send(tenancy.permset) IS
    'binary output function of type permset';

-- Comparison.  The order is arbitrary but total; equal means byte-equal.

CREATE FUNCTION tenancy.permset_eq(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_eq'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION tenancy.permset_ne(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_ne'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION tenancy.permset_lt(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_lt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_le(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_le'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_gt(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_gt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_ge(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_ge'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_cmp(tenancy.permset, tenancy.permset)
RETURNS integer
AS 'MODULE_PATHNAME', 'permset_cmp'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_hash(tenancy.permset)
RETURNS integer
AS 'MODULE_PATHNAME', 'permset_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_hash_extended(tenancy.permset, bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'permset_hash_extended'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION tenancy.permset_eq(tenancy.permset, tenancy.permset) IS
    'implementation of = operator for permset';
COMMENT ON FUNCTION tenancy.permset_ne(tenancy.permset, tenancy.permset) IS
    'implementation of <> operator for permset';
COMMENT ON FUNCTION tenancy.permset_lt(tenancy.permset, tenancy.permset) IS
    'implementation of < operator for permset';
COMMENT ON FUNCTION tenancy.permset_le(tenancy.permset, tenancy.permset) IS
    'implementation of <= operator for permset';
COMMENT ON FUNCTION tenancy.permset_gt(tenancy.permset, tenancy.permset) IS
    'implementation of > operator for permset';
COMMENT ON FUNCTION tenancy.permset_ge(tenancy.permset, tenancy.permset) IS
    'implementation of >= operator for permset';
COMMENT ON FUNCTION tenancy.permset_cmp(tenancy.permset, tenancy.permset) IS
    'btree comparison function for permset';
COMMENT ON FUNCTION tenancy.permset_hash(tenancy.permset) IS
    'hash function for permset';
COMMENT ON FUNCTION tenancy.permset_hash_extended(tenancy.permset, bigint) IS
    'seeded 64-bit hash function for permset';

CREATE OPERATOR tenancy.= (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_eq,
    COMMUTATOR = OPERATOR(tenancy.=),
    NEGATOR = OPERATOR(tenancy.<>),
    RESTRICT = eqsel,
    JOIN = eqjoinsel,
    HASHES,
    MERGES
);

CREATE OPERATOR tenancy.<> (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_ne,
    COMMUTATOR = OPERATOR(tenancy.<>),
    NEGATOR = OPERATOR(tenancy.=),
    RESTRICT = neqsel,
    JOIN = neqjoinsel
);

CREATE OPERATOR tenancy.< (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_lt,
    COMMUTATOR = OPERATOR(tenancy.>),
    NEGATOR = OPERATOR(tenancy.>=),
    RESTRICT = scalarltsel,
    JOIN = scalarltjoinsel
);

CREATE OPERATOR tenancy.<= (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_le,
    COMMUTATOR = OPERATOR(tenancy.>=),
    NEGATOR = OPERATOR(tenancy.>),
    RESTRICT = scalarlesel,
    JOIN = scalarlejoinsel
);

CREATE OPERATOR tenancy.> (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_gt,
    COMMUTATOR = OPERATOR(tenancy.<),
    NEGATOR = OPERATOR(tenancy.<=),
    RESTRICT = scalargtsel,
    JOIN = scalargtjoinsel
);

CREATE OPERATOR tenancy.>= (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_ge,
    COMMUTATOR = OPERATOR(tenancy.<=),
    NEGATOR = OPERATOR(tenancy.<),
    RESTRICT = scalargesel,
    JOIN = scalargejoinsel
);

COMMENT ON OPERATOR tenancy.= (tenancy.permset, tenancy.permset) IS
    'equal';
COMMENT ON OPERATOR tenancy.<> (tenancy.permset, tenancy.permset) IS
    'not equal';
COMMENT ON OPERATOR tenancy.< (tenancy.permset, tenancy.permset) IS
    'less than';
COMMENT ON OPERATOR tenancy.<= (tenancy.permset, tenancy.permset) IS
    'less than or equal';
COMMENT ON OPERATOR tenancy.> (tenancy.permset, tenancy.permset) IS
    'greater than';
COMMENT ON OPERATOR tenancy.>= (tenancy.permset, tenancy.permset) IS
    'greater than or equal';

CREATE OPERATOR CLASS tenancy.permset_ops
    DEFAULT FOR TYPE tenancy.permset USING btree AS
        OPERATOR 1 tenancy.< ,
        OPERATOR 2 tenancy.<= ,
        OPERATOR 3 tenancy.= ,
        OPERATOR 4 tenancy.>= ,
        OPERATOR 5 tenancy.> ,
        FUNCTION 1 tenancy.permset_cmp(tenancy.permset, tenancy.permset);

CREATE OPERATOR CLASS tenancy.permset_ops
    DEFAULT FOR TYPE tenancy.permset USING hash AS
        OPERATOR 1 tenancy.= ,
        FUNCTION 1 tenancy.permset_hash(tenancy.permset),
        FUNCTION 2 tenancy.permset_hash_extended(tenancy.permset, bigint);

COMMENT ON OPERATOR CLASS tenancy.permset_ops USING btree IS
    'default btree operator class for permset';
COMMENT ON OPERATOR CLASS tenancy.permset_ops USING hash IS
    'default hash operator class for permset';

-- Set operations.

CREATE FUNCTION tenancy.permset_contains(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_contains_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_contained(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_contained'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_union(tenancy.permset, tenancy.permset)
RETURNS tenancy.permset
AS 'MODULE_PATHNAME', 'permset_union_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION tenancy.permset_contains(tenancy.permset, tenancy.permset) IS
    'does the first permset grant every permission the second grants';
COMMENT ON FUNCTION tenancy.permset_contained(tenancy.permset, tenancy.permset) IS
    'does the second permset grant every permission the first grants';
COMMENT ON FUNCTION tenancy.permset_union(tenancy.permset, tenancy.permset) IS
    'permset granting every permission either argument grants';

CREATE OPERATOR tenancy.@> (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_contains,
    COMMUTATOR = OPERATOR(tenancy.<@),
    RESTRICT = contsel,
    JOIN = contjoinsel
);

CREATE OPERATOR tenancy.<@ (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_contained,
    COMMUTATOR = OPERATOR(tenancy.@>),
    RESTRICT = contsel,
    JOIN = contjoinsel
);

CREATE OPERATOR tenancy.+ (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_union,
    COMMUTATOR = OPERATOR(tenancy.+)
);

COMMENT ON OPERATOR tenancy.@> (tenancy.permset, tenancy.permset) IS
    'contains';
COMMENT ON OPERATOR tenancy.<@ (tenancy.permset, tenancy.permset) IS
    'is contained by';
COMMENT ON OPERATOR tenancy.+ (tenancy.permset, tenancy.permset) IS
    'union';

-- Queries.

CREATE FUNCTION tenancy.allows(tenancy.permset, text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_allows_text'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_elements(tenancy.permset)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'permset_elements'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_count(tenancy.permset)
RETURNS integer
AS 'MODULE_PATHNAME', 'permset_count'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION tenancy.allows(tenancy.permset, text) IS
    'does the permset grant the type:action permission, where * in the argument means all';
COMMENT ON FUNCTION tenancy.permset_elements(tenancy.permset) IS
    'the permissions of a permset as type:action text, in canonical order';
COMMENT ON FUNCTION tenancy.permset_count(tenancy.permset) IS
    'number of permissions in the canonical form of a permset';

CREATE AGGREGATE tenancy.permset_agg(tenancy.permset) (
    SFUNC = tenancy.permset_union,
    STYPE = tenancy.permset,
    COMBINEFUNC = tenancy.permset_union,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE tenancy.permset_agg(tenancy.permset) IS
    'union of all input permsets';
