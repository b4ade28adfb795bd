-- ---------------------------------------------------------------------------
-- The keys that sign context tokens (src/keys.c, src/token.c).
--
-- No role but the extension's owner reads this table: the verifier reads it
-- from C, inside the check hook of tenancy.context, whoever the caller is.
-- HS256 keys are shared secrets; the others are public keys, so that the
-- database holds nothing that can sign.
-- ---------------------------------------------------------------------------

CREATE TABLE tenancy.signing_keys (
    kid         text PRIMARY KEY
                CONSTRAINT signing_keys_kid_check
                CHECK (kid OPERATOR(pg_catalog.<>) ''),
    alg         text NOT NULL
                CONSTRAINT signing_keys_alg_check
                CHECK (alg OPERATOR(pg_catalog.=) ANY (ARRAY['HS256', 'RS256', 'ES256', 'EdDSA'])),
    key         text NOT NULL,
    issuer      text,
    audience    text,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE tenancy.signing_keys IS
    'Keys that sign context tokens, by key id (kid): an HS256 secret or a PEM public key; readable by the extension owner only.';
REVOKE ALL ON tenancy.signing_keys FROM PUBLIC;

CREATE FUNCTION tenancy._signing_key_check(alg text, key text)
RETURNS void
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'tenancy_signing_key_check';

-- Every way a key gets in is checked: add_signing_key, INSERT, UPDATE, and
-- the COPY of a restored dump.
CREATE FUNCTION tenancy._signing_keys_check_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tenancy._signing_key_check(NEW.alg, NEW.key);
    RETURN NEW;
END
$$;

CREATE TRIGGER signing_keys_check
    BEFORE INSERT OR UPDATE ON tenancy.signing_keys
    FOR EACH ROW EXECUTE FUNCTION tenancy._signing_keys_check_row();

CREATE FUNCTION tenancy.add_signing_key(kid text, alg text, key text,
                                        issuer text DEFAULT NULL,
                                        audience text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF kid IS NULL OR alg IS NULL OR key IS NULL THEN
        RAISE EXCEPTION 'key id, algorithm and key must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF kid = '' THEN
        RAISE EXCEPTION 'key id must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO tenancy.signing_keys AS k (kid, alg, key, issuer, audience)
    VALUES (add_signing_key.kid, add_signing_key.alg, add_signing_key.key,
            add_signing_key.issuer, add_signing_key.audience);
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'signing key "%" already exists', kid
        USING ERRCODE = 'duplicate_object',
              HINT = 'Add the new key under a new key id, then drop the old one.';
END
$$;
COMMENT ON FUNCTION tenancy.add_signing_key(text, text, text, text, text) IS
    'Adds a key that signs context tokens: kid, alg (HS256, RS256, ES256 or EdDSA), the HS256 secret or PEM public key, and the iss and aud its tokens must carry (NULL: not checked).';

CREATE FUNCTION tenancy.drop_signing_key(kid text)
RETURNS boolean
LANGUAGE sql STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM tenancy.signing_keys k
        WHERE k.kid OPERATOR(pg_catalog.=) drop_signing_key.kid
        RETURNING 1
    )
    SELECT count(*) OPERATOR(pg_catalog.>) 0 FROM gone
$$;
COMMENT ON FUNCTION tenancy.drop_signing_key(text) IS
    'Drops a signing key; tokens that name it stop working.  Returns whether there was one.';

CREATE FUNCTION tenancy.verify_token(token text,
                                     OUT user_id uuid, OUT tenant_id uuid,
                                     OUT expires_at timestamptz)
RETURNS record
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'tenancy_verify_token';
COMMENT ON FUNCTION tenancy.verify_token(text) IS
    'Checks a context token exactly as tenancy.context does, and returns its user, tenant and expiry; raises 28000 with the reason when it is refused.';
