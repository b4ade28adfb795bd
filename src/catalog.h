/*
 * catalog.h
 *		Where pg_tenancy's tables and indexes are, for the C code that reads
 *		them directly.
 *
 * The OIDs are looked up once per backend and forgotten on any relcache
 * invalidation of one of them (DROP/CREATE EXTENSION, ALTER TABLE), so a
 * reinstalled extension is found again.  The attribute numbers are those of
 * the install script's CREATE TABLE statements; the lookup verifies them.
 */
#ifndef PG_TENANCY_CATALOG_H
#define PG_TENANCY_CATALOG_H

#include "postgres.h"

/* tenancy.tenants */
#define Anum_tenants_id					1
#define Anum_tenants_org_id				2
/* tenancy.users */
#define Anum_users_id					1
#define Anum_users_active				5
#define Anum_users_external_issuer		7
#define Anum_users_external_subject		8
/* tenancy.memberships */
#define Anum_memberships_org_id			1
#define Anum_memberships_user_id		2
#define Anum_memberships_role_id		3
#define Anum_memberships_expires_at		4
/* tenancy.team_members */
#define Anum_team_members_team_id		1
#define Anum_team_members_org_id		2
#define Anum_team_members_user_id		3
/* tenancy._member_facts */
#define Anum_member_facts_org_id		1
#define Anum_member_facts_user_id		2
#define Anum_member_facts_role_id		3
#define Anum_member_facts_expires_at	4
#define Anum_member_facts_active		5
#define Anum_member_facts_teams			6
/* tenancy.role_assignments */
#define Anum_role_assignments_org_id	2
#define Anum_role_assignments_role_id	3
#define Anum_role_assignments_tenant_id	4
#define Anum_role_assignments_user_id	5
#define Anum_role_assignments_team_id	6
#define Anum_role_assignments_expires_at 7
/* tenancy.roles */
#define Anum_roles_id					1
#define Anum_roles_org_id				2
#define Anum_roles_permissions			5
/* tenancy.shares */
#define Anum_shares_org_id				2
#define Anum_shares_tenant_id			3
#define Anum_shares_resource_type		4
#define Anum_shares_relid				5
#define Anum_shares_resource_id			6
#define Anum_shares_user_id				7
#define Anum_shares_team_id				8
#define Anum_shares_actions				9
/* tenancy.protected_tables */
#define Anum_protected_tables_relid		1
#define Anum_protected_tables_tenant_column 2
#define Anum_protected_tables_resource_type 3
#define Anum_protected_tables_owner_column 4
#define Anum_protected_tables_id_column	5
#define Anum_protected_tables_root		6
/* tenancy.actions, tenancy.resource_types */
#define Anum_registry_name				1

/* Built-in role ids, fixed by the install script (src/sql/25_builtin.sql). */
#define TENANCY_ORG_ADMIN_ROLE	"00000000-0000-0000-0001-000000000001"
#define TENANCY_ORG_MANAGER_ROLE "00000000-0000-0000-0001-000000000002"

/* How many buckets of organizations and users invalidations name. */
#define TENANCY_INVAL_BUCKETS	64

typedef struct TenancyCatalog
{
	Oid			tenants;
	Oid			tenants_pkey;
	Oid			tenants_org_slug_key;	/* (org_id, slug): tenants of an org */
	Oid			users;
	Oid			users_pkey;
	Oid			users_external_key; /* (external_subject, external_issuer) */
	Oid			memberships;
	Oid			memberships_user_idx;
	Oid			team_members;
	Oid			team_members_user_idx;
	Oid			member_facts;
	Oid			member_facts_pkey;
	Oid			role_assignments;
	Oid			role_assignments_user_idx;
	Oid			role_assignments_team_idx;
	Oid			role_assignments_org_scope_idx;
	Oid			roles;
	Oid			roles_pkey;
	Oid			shares;
	Oid			shares_user_idx;
	Oid			shares_team_idx;
	Oid			protected_tables;
	Oid			protected_tables_pkey;
	Oid			actions;
	Oid			actions_pkey;
	Oid			resource_types;
	Oid			resource_types_pkey;
	Oid			context_tenant_fn;	/* tenancy.context_tenant(text) */
	Oid			visible_tenants_fn; /* tenancy.visible_tenants(text) */
	Oid			current_tenant_fn;	/* tenancy.current_tenant_id() */
	Oid			writable_tenants_fn;	/* tenancy.writable_tenants(text) */
	Oid			tenant_in_fn;	/* tenancy._tenant_in(uuid, text, boolean) */
	Oid			current_user_fn;	/* tenancy.current_user_id() */
	Oid			shared_ids_fn;	/* tenancy.shared_ids(text, anyelement,
								 * regclass) */
	Oid			resource_allows_fn; /* tenancy.resource_allows(...) */
	Oid			role_tenants_fn;	/* tenancy.role_tenants() */
	Oid			is_shared_fn;	/* tenancy.is_shared(uuid, anyelement, text,
								 * regclass) */
	Oid			guard_owner_fn; /* tenancy._guard_owner(uuid, uuid, uuid,
								 * regclass, text) */
	Oid			guard_tenant_fn;	/* tenancy._guard_tenant(uuid, uuid,
									 * regclass, text) */
	Oid			invalidation_channel;	/* see cache.c: everything */
	Oid			bucket_channels[TENANCY_INVAL_BUCKETS]; /* one bucket each */
} TenancyCatalog;

/* The catalog of the installed extension; errors if it is not installed. */
extern const TenancyCatalog *tenancy_catalog(void);
/* The same, or NULL when it is not installed. */
extern const TenancyCatalog *tenancy_catalog_if_installed(void);
extern void tenancy_catalog_init(void);

#endif							/* PG_TENANCY_CATALOG_H */
