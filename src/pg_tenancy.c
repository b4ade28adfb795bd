/*
 * pg_tenancy.c
 *		Module entry point.  Each part of the extension keeps its own state
 *		and registers its own callbacks; _PG_init only asks each to do so.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "cache.h"
#include "catalog.h"
#include "context.h"
#include "policy.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	tenancy_catalog_init();
	tenancy_cache_init();
	tenancy_context_init();
	tenancy_policy_init();
	tenancy_fold_init();

	/* Every setting of pg_tenancy is "tenancy.*"; keep the prefix ours. */
	MarkGUCPrefixReserved("tenancy");
}
