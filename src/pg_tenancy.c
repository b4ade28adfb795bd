/*
 * pg_tenancy.c
 *		Module entry point.  Each part of the extension keeps its own state
 *		and registers its own callbacks; _PG_init only asks each to do so.
 *
 * _PG_init may run more than once in a backend.  When it raises, the server
 * does not record the library as loaded, and the next call into it runs
 * _PG_init again; a connection must not be lost to that.  It can raise
 * where a setting's check hook meets a value SET before the library was
 * loaded (a statement cancelled while the context is checked, say).  So
 * each step runs until it has once succeeded, and the step that can raise,
 * the context's, is idempotent itself and comes last but one.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "cache.h"
#include "catalog.h"
#include "citus.h"
#include "context.h"
#include "guard.h"
#include "policy.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Every setting of pg_tenancy is "tenancy.*"; keep the prefix ours. */
static void
reserve_prefix(void)
{
	MarkGUCPrefixReserved("tenancy");
}

void
_PG_init(void)
{
	static void (*const steps[]) (void) = {
		tenancy_catalog_init,
		tenancy_cache_init,
		tenancy_policy_init,
		tenancy_fold_init,
		tenancy_guard_init,
		tenancy_context_init,
		tenancy_citus_init,
		reserve_prefix,
	};
	static int	done = 0;

	while (done < lengthof(steps))
	{
		steps[done] ();
		done++;
	}
}
