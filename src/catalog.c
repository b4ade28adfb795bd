/*
 * catalog.c
 *		Finding pg_tenancy's tables and indexes from C.
 *
 * Each backend resolves the names once and keeps the OIDs until a relcache
 * invalidation names one of them (or is a reset), which is what DROP
 * EXTENSION, a reinstall or an ALTER TABLE produce.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "catalog/pg_namespace.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

#include "catalog.h"
#include "citus.h"

#define TENANCY_SCHEMA	"tenancy"

static TenancyCatalog catalog;
static bool catalog_valid = false;

static Oid
lookup_rel(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s.%s\" of extension \"pg_tenancy\" does not exist",
						TENANCY_SCHEMA, name),
				 errhint("Reinstall the extension with DROP EXTENSION and CREATE EXTENSION.")));
	return relid;
}

/* Guards against an install script whose columns moved. */
static void
verify_attnum(Oid relid, const char *attname, AttrNumber expected)
{
	if (get_attnum(relid, attname) != expected)
		elog(ERROR, "column \"%s\" of relation \"%s\" is not at position %d",
			 attname, get_rel_name(relid), expected);
}

static void
catalog_relcache_callback(Datum arg, Oid relid)
{
	tenancy_citus_relcache_inval(relid);
	if (!catalog_valid)
		return;
	if (!OidIsValid(relid) ||
		relid == catalog.tenants || relid == catalog.users ||
		relid == catalog.memberships || relid == catalog.team_members ||
		relid == catalog.role_assignments || relid == catalog.roles ||
		relid == catalog.shares || relid == catalog.actions ||
		relid == catalog.protected_tables ||
		relid == catalog.member_facts ||
		relid == catalog.resource_types)
		catalog_valid = false;
}

void
tenancy_catalog_init(void)
{
	CacheRegisterRelcacheCallback(catalog_relcache_callback, (Datum) 0);
}

/*
 * The catalog, or NULL when the extension is not installed in this
 * database: what the hooks ask on every statement, at no cost once found.
 */
const TenancyCatalog *
tenancy_catalog_if_installed(void)
{
	if (catalog_valid)
		return &catalog;
	/* a schema of that name, or the extension without its objects yet */
	if (!OidIsValid(get_namespace_oid(TENANCY_SCHEMA, true)) ||
		!OidIsValid(get_extension_oid("pg_tenancy", true)) || creating_extension)
		return NULL;
	return tenancy_catalog();
}

const TenancyCatalog *
tenancy_catalog(void)
{
	TenancyCatalog c;
	Oid			nsp;

	if (catalog_valid)
		return &catalog;

	nsp = get_namespace_oid(TENANCY_SCHEMA, true);
	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pg_tenancy\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION pg_tenancy.")));

	c.tenants = lookup_rel(nsp, "tenants");
	c.tenants_pkey = lookup_rel(nsp, "tenants_pkey");
	c.tenants_org_slug_key = lookup_rel(nsp, "tenants_org_slug_key");
	c.users = lookup_rel(nsp, "users");
	c.users_pkey = lookup_rel(nsp, "users_pkey");
	c.users_external_key = lookup_rel(nsp, "users_external_key");
	c.memberships = lookup_rel(nsp, "memberships");
	c.memberships_user_idx = lookup_rel(nsp, "memberships_user_idx");
	c.team_members = lookup_rel(nsp, "team_members");
	c.team_members_user_idx = lookup_rel(nsp, "team_members_user_idx");
	c.member_facts = lookup_rel(nsp, "_member_facts");
	c.member_facts_pkey = lookup_rel(nsp, "_member_facts_pkey");
	c.role_assignments = lookup_rel(nsp, "role_assignments");
	c.role_assignments_user_idx = lookup_rel(nsp, "role_assignments_user_idx");
	c.role_assignments_team_idx = lookup_rel(nsp, "role_assignments_team_idx");
	c.role_assignments_org_scope_idx = lookup_rel(nsp, "role_assignments_org_scope_idx");
	c.roles = lookup_rel(nsp, "roles");
	c.roles_pkey = lookup_rel(nsp, "roles_pkey");
	c.shares = lookup_rel(nsp, "shares");
	c.shares_user_idx = lookup_rel(nsp, "shares_user_idx");
	c.shares_team_idx = lookup_rel(nsp, "shares_team_idx");
	c.protected_tables = lookup_rel(nsp, "protected_tables");
	c.protected_tables_pkey = lookup_rel(nsp, "protected_tables_pkey");
	c.actions = lookup_rel(nsp, "actions");
	c.actions_pkey = lookup_rel(nsp, "actions_pkey");
	c.resource_types = lookup_rel(nsp, "resource_types");
	c.resource_types_pkey = lookup_rel(nsp, "resource_types_pkey");
	c.invalidation_channel = lookup_rel(nsp, "_invalidation_channel");
	for (int b = 0; b < TENANCY_INVAL_BUCKETS; b++)
	{
		char		name[NAMEDATALEN];

		snprintf(name, sizeof(name), "_invalidation_channel_%02d", b);
		c.bucket_channels[b] = lookup_rel(nsp, name);
	}

	{
		Oid			argtypes[1] = {TEXTOID};

		c.context_tenant_fn =
			LookupFuncName(list_make2(makeString(TENANCY_SCHEMA),
									  makeString("context_tenant")),
						   1, argtypes, false);
		c.visible_tenants_fn =
			LookupFuncName(list_make2(makeString(TENANCY_SCHEMA),
									  makeString("visible_tenants")),
						   1, argtypes, false);
		c.current_tenant_fn =
			LookupFuncName(list_make2(makeString(TENANCY_SCHEMA),
									  makeString("current_tenant_id")),
						   0, argtypes, false);
		c.writable_tenants_fn =
			LookupFuncName(list_make2(makeString(TENANCY_SCHEMA),
									  makeString("writable_tenants")),
						   1, argtypes, false);
		{
			Oid			in_args[3] = {UUIDOID, TEXTOID, BOOLOID};

			c.tenant_in_fn =
				LookupFuncName(list_make2(makeString(TENANCY_SCHEMA),
										  makeString("_tenant_in")),
							   3, in_args, false);
		}
		c.current_user_fn =
			LookupFuncName(list_make2(makeString(TENANCY_SCHEMA),
									  makeString("current_user_id")),
						   0, argtypes, false);
		{
			Oid			shared_args[3] = {TEXTOID, ANYELEMENTOID, REGCLASSOID};
			Oid			allows_args[6] = {UUIDOID, UUIDOID, ANYELEMENTOID,
			TEXTOID, BOOLOID, REGCLASSOID};
			Oid			is_shared_args[4] = {UUIDOID, ANYELEMENTOID, TEXTOID,
			REGCLASSOID};

			c.shared_ids_fn =
				LookupFuncName(list_make2(makeString(TENANCY_SCHEMA),
										  makeString("shared_ids")),
							   3, shared_args, false);
			c.resource_allows_fn =
				LookupFuncName(list_make2(makeString(TENANCY_SCHEMA),
										  makeString("resource_allows")),
							   6, allows_args, false);
			c.is_shared_fn =
				LookupFuncName(list_make2(makeString(TENANCY_SCHEMA),
										  makeString("is_shared")),
							   4, is_shared_args, false);
		}
		{
			Oid			owner_args[5] = {UUIDOID, UUIDOID, UUIDOID, REGCLASSOID,
			TEXTOID};
			Oid			tenant_args[4] = {UUIDOID, UUIDOID, REGCLASSOID, TEXTOID};

			c.guard_owner_fn =
				LookupFuncName(list_make2(makeString(TENANCY_SCHEMA),
										  makeString("_guard_owner")),
							   5, owner_args, false);
			c.guard_tenant_fn =
				LookupFuncName(list_make2(makeString(TENANCY_SCHEMA),
										  makeString("_guard_tenant")),
							   4, tenant_args, false);
		}
		c.role_tenants_fn =
			LookupFuncName(list_make2(makeString(TENANCY_SCHEMA),
									  makeString("role_tenants")),
						   0, argtypes, false);
	}

	verify_attnum(c.tenants, "id", Anum_tenants_id);
	verify_attnum(c.tenants, "org_id", Anum_tenants_org_id);
	verify_attnum(c.users, "id", Anum_users_id);
	verify_attnum(c.users, "active", Anum_users_active);
	verify_attnum(c.users, "external_issuer", Anum_users_external_issuer);
	verify_attnum(c.users, "external_subject", Anum_users_external_subject);
	verify_attnum(c.memberships, "org_id", Anum_memberships_org_id);
	verify_attnum(c.memberships, "user_id", Anum_memberships_user_id);
	verify_attnum(c.memberships, "role_id", Anum_memberships_role_id);
	verify_attnum(c.memberships, "expires_at", Anum_memberships_expires_at);
	verify_attnum(c.team_members, "team_id", Anum_team_members_team_id);
	verify_attnum(c.team_members, "org_id", Anum_team_members_org_id);
	verify_attnum(c.team_members, "user_id", Anum_team_members_user_id);
	verify_attnum(c.member_facts, "org_id", Anum_member_facts_org_id);
	verify_attnum(c.member_facts, "user_id", Anum_member_facts_user_id);
	verify_attnum(c.member_facts, "role_id", Anum_member_facts_role_id);
	verify_attnum(c.member_facts, "expires_at", Anum_member_facts_expires_at);
	verify_attnum(c.member_facts, "active", Anum_member_facts_active);
	verify_attnum(c.member_facts, "teams", Anum_member_facts_teams);
	verify_attnum(c.role_assignments, "org_id", Anum_role_assignments_org_id);
	verify_attnum(c.role_assignments, "role_id", Anum_role_assignments_role_id);
	verify_attnum(c.role_assignments, "tenant_id", Anum_role_assignments_tenant_id);
	verify_attnum(c.role_assignments, "user_id", Anum_role_assignments_user_id);
	verify_attnum(c.role_assignments, "team_id", Anum_role_assignments_team_id);
	verify_attnum(c.role_assignments, "expires_at", Anum_role_assignments_expires_at);
	verify_attnum(c.roles, "id", Anum_roles_id);
	verify_attnum(c.roles, "permissions", Anum_roles_permissions);
	verify_attnum(c.shares, "org_id", Anum_shares_org_id);
	verify_attnum(c.shares, "tenant_id", Anum_shares_tenant_id);
	verify_attnum(c.shares, "resource_type", Anum_shares_resource_type);
	verify_attnum(c.shares, "relid", Anum_shares_relid);
	verify_attnum(c.shares, "resource_id", Anum_shares_resource_id);
	verify_attnum(c.protected_tables, "relid", Anum_protected_tables_relid);
	verify_attnum(c.protected_tables, "tenant_column",
				  Anum_protected_tables_tenant_column);
	verify_attnum(c.protected_tables, "resource_type",
				  Anum_protected_tables_resource_type);
	verify_attnum(c.protected_tables, "owner_column",
				  Anum_protected_tables_owner_column);
	verify_attnum(c.protected_tables, "id_column",
				  Anum_protected_tables_id_column);
	verify_attnum(c.protected_tables, "root", Anum_protected_tables_root);
	verify_attnum(c.shares, "user_id", Anum_shares_user_id);
	verify_attnum(c.shares, "team_id", Anum_shares_team_id);
	verify_attnum(c.shares, "actions", Anum_shares_actions);
	verify_attnum(c.actions, "name", Anum_registry_name);
	verify_attnum(c.resource_types, "name", Anum_registry_name);

	/* Publish only a complete set: an error above leaves nothing cached. */
	catalog = c;
	catalog_valid = true;
	return &catalog;
}
