-- What bob, an editor of acme/prod, sees of the protected table pipelines.
SELECT id AS bob FROM tenancy.users WHERE email = 'bob@acme.test' \gset
SET ROLE demo_app;
BEGIN;
SELECT tenancy.set_context(:'bob') \g /dev/null
SELECT string_agg(name, ', ' ORDER BY name) FROM pipelines;
COMMIT;
