/*
 * compat.h
 *		Every PostgreSQL-version-dependent construct of pg_tenancy, in one place.
 *
 * pg_tenancy targets PostgreSQL 15.  Where a later server offers something
 * better (soft input errors, for one), the difference is kept behind
 * PG_VERSION_NUM here and nowhere else.
 */
#ifndef PG_TENANCY_COMPAT_H
#define PG_TENANCY_COMPAT_H

#include "postgres.h"
#include "fmgr.h"

#if PG_VERSION_NUM < 150000
#error "pg_tenancy requires PostgreSQL 15 or later"
#endif

/*
 * Soft input errors arrived in PostgreSQL 16.  PT_INPUT_ERROR raises the
 * error through the function call's escontext where there is one, so that
 * pg_input_is_valid() and friends work; on 15 it is an ordinary ereport.
 */
#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#define PT_ESCONTEXT(fcinfo)	((fcinfo)->context)
#define PT_INPUT_ERROR(escontext, retval, ...) \
	ereturn((escontext), (retval), __VA_ARGS__)
#else
#define PT_ESCONTEXT(fcinfo)	((Node *) NULL)
#define PT_INPUT_ERROR(escontext, retval, ...) \
	do { \
		(void) (escontext); \
		ereport(ERROR, __VA_ARGS__); \
		return (retval); \
	} while (0)
#endif

/*
 * The JSON parser's semantic actions return an error code from 16 on, and
 * its lexer constructor takes a context to fill from 17 on.
 */
#if PG_VERSION_NUM >= 160000
#define JSON_ACTION_RESULT	JsonParseErrorType
#define JSON_ACTION_RETURN	return JSON_SUCCESS
#else
#define JSON_ACTION_RESULT	void
#define JSON_ACTION_RETURN	return
#endif

#if PG_VERSION_NUM >= 170000
#define PT_JSON_LEXER(json, len, enc) \
	makeJsonLexContextCstringLen(NULL, (json), (len), (enc), true)
#else
#define PT_JSON_LEXER(json, len, enc) \
	makeJsonLexContextCstringLen((json), (len), (enc), true)
#endif

/*
 * Memory for a setting's value and "extra" data: plain malloc until 15,
 * the GUC memory context from 16 on (and NULL on failure either way).
 */
#if PG_VERSION_NUM >= 160000
#define PT_GUC_MALLOC(size)		guc_malloc(LOG, (size))
#define PT_GUC_STRDUP(str)		guc_strdup(LOG, (str))
#define PT_GUC_FREE(ptr)		guc_free(ptr)
#else
#define PT_GUC_MALLOC(size)		malloc(size)
#define PT_GUC_STRDUP(str)		strdup(str)
#define PT_GUC_FREE(ptr)		free(ptr)
#endif


/*
 * The newest transaction id known to have completed (the shared struct
 * holding it was renamed in 17).
 */
#include "access/transam.h"
#if PG_VERSION_NUM >= 170000
#define PT_LATEST_COMPLETED_XID()	XidFromFullTransactionId(((volatile TransamVariablesData *) TransamVariables)->latestCompletedXid)
#else
#define PT_LATEST_COMPLETED_XID()	XidFromFullTransactionId(((volatile VariableCacheData *) ShmemVariableCache)->latestCompletedXid)
#endif

/*
 * How many session values (SET) committed by earlier transactions PostgreSQL
 * will re-apply when a placeholder setting is defined: 1 when the
 * placeholder holds such a value other than its reset value, else 0.  This mirrors what
 * guc.c's reapply_stacked_values does first (it recurses to the bottom of
 * the transaction's stack, then applies the committed value if it differs
 * from the reset value, comparing as it does); everything it applies after
 * that was set in the current transaction.
 */
#if PG_VERSION_NUM < 160000
#include "utils/guc_tables.h"

static inline int
PT_PLACEHOLDER_COMMITTED_VALUES(const char *name)
{
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();
	int			i;

	for (i = 0; i < n; i++)
	{
		struct config_generic *g = vars[i];
		struct config_string *ph;
		const char *committed;
		GucContext scontext;
		GucSource	source;
		Oid			srole;
		GucStack   *bottom;

		if (strcmp(g->name, name) != 0)
			continue;
		if (!(g->flags & GUC_CUSTOM_PLACEHOLDER) || g->vartype != PGC_STRING)
			return 0;
		ph = (struct config_string *) g;
		committed = *ph->variable;
		scontext = g->scontext;
		source = g->source;
		srole = g->srole;
		for (bottom = g->stack; bottom != NULL && bottom->prev != NULL;
			 bottom = bottom->prev)
			;
		if (bottom != NULL)
		{
			committed = bottom->prior.val.stringval;
			scontext = bottom->scontext;
			source = bottom->source;
			srole = bottom->srole;
		}
		/* Only a session value (SET) could ever count; count only those. */
		return (source == PGC_S_SESSION &&
				(committed != ph->reset_val ||
				 scontext != g->reset_scontext ||
				 source != g->reset_source ||
				 srole != g->reset_srole)) ? 1 : 0;
	}
	return 0;
}
/*
 * Whether a setting is defined by a loaded module (not a placeholder): a
 * _PG_init that an error interrupted runs again, and must not define a
 * setting twice.
 */
static inline bool
PT_GUC_IS_DEFINED(const char *name)
{
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();
	int			i;

	for (i = 0; i < n; i++)
	{
		if (strcmp(vars[i]->name, name) == 0)
			return (vars[i]->flags & GUC_CUSTOM_PLACEHOLDER) == 0;
	}
	return false;
}

/*
 * The value of a string setting when it was set for the current transaction
 * only (SET LOCAL, set_config(..., true)) in this session, else NULL: a
 * value set for the session, from a function's SET clause, or from any
 * other source.  The settings are sorted by name, case-insensitively;
 * *hint remembers where the setting was last found (start it at -1), so
 * that a caller on a hot path compares one name, not a dozen.
 */
static inline const char *
PT_GUC_LOCAL_STRING(const char *name, int *hint)
{
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();
	struct config_generic *g = NULL;

	if (*hint >= 0 && *hint < n && pg_strcasecmp(vars[*hint]->name, name) == 0)
		g = vars[*hint];
	else
	{
		int			lo = 0;
		int			hi = n - 1;

		while (lo <= hi)
		{
			int			mid = lo + (hi - lo) / 2;
			int			c = pg_strcasecmp(vars[mid]->name, name);

			if (c < 0)
				lo = mid + 1;
			else if (c > 0)
				hi = mid - 1;
			else
			{
				g = vars[mid];
				*hint = mid;
				break;
			}
		}
	}
	if (g == NULL || g->vartype != PGC_STRING || g->source != PGC_S_SESSION ||
		g->stack == NULL ||
		(g->stack->state != GUC_LOCAL && g->stack->state != GUC_SET_LOCAL))
		return NULL;
	return *((struct config_string *) g)->variable;
}
#else
#error "PT_PLACEHOLDER_COMMITTED_VALUES needs porting: GUC placeholders moved to a hash table in 16"
#endif

#endif							/* PG_TENANCY_COMPAT_H */
