/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  What pg_tenancy needs of its own to work on a Citus cluster.
 *
 * Citus sends a query to the workers over connections of the user running
 * it, and refuses to read a shard placement over one user's connection when
 * another user's connection has written it in the transaction (neither
 * connection sees the other's uncommitted rows).  share() runs as the
 * extension's owner and reads the row it shares: right after the
 * application's own INSERT of that row, in the same transaction, Citus
 * refuses.  _read_as_session_role() runs that one read as the session's
 * role (the application's, which wrote the placement), so that Citus reuses
 * its connection.  The read is subject to that role's rights and to
 * row-level security under the context, as any query of the application is:
 * it gives its caller nothing the application could not read itself.
 *
 * Copyright (c) pg_tenancy authors
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(tenancy_read_as_session_role);

/*
 * tenancy._read_as_session_role(query text, a text, b uuid) RETURNS text[]:
 * runs query (a SELECT with parameters $1 text and $2 uuid) as the session's
 * role, and returns the first row's columns as text, or NULL when there is
 * no row.  Not executable by PUBLIC: share() (SECURITY DEFINER) calls it.
 */
Datum
tenancy_read_as_session_role(PG_FUNCTION_ARGS)
{
	char	   *query;
	Oid			argtypes[2] = {TEXTOID, UUIDOID};
	Datum		values[2];
	char		nulls[2];
	Oid			save_userid;
	int			save_sec_context;
	ArrayType  *volatile result = NULL;
	MemoryContext caller_cxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("query must not be null")));
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	values[0] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[0] = PG_ARGISNULL(1) ? 'n' : ' ';
	values[1] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[1] = PG_ARGISNULL(2) ? 'n' : ' ';

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(GetOuterUserId(),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args(query, 2, argtypes, values, nulls,
								  false, 1) != SPI_OK_SELECT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("query must be a SELECT")));
		if (SPI_processed > 0)
		{
			TupleDesc	desc = SPI_tuptable->tupdesc;
			int			n = desc->natts;
			Datum	   *elems = palloc(sizeof(Datum) * n);
			bool	   *elnulls = palloc(sizeof(bool) * n);
			int			dims[1] = {n};
			int			lbs[1] = {1};
			int			i;
			MemoryContext spi_cxt;

			for (i = 0; i < n; i++)
			{
				char	   *s = SPI_getvalue(SPI_tuptable->vals[0], desc, i + 1);

				elnulls[i] = (s == NULL);
				elems[i] = s == NULL ? (Datum) 0 : CStringGetTextDatum(s);
			}
			/* the array outlives SPI: build it in the caller's context */
			spi_cxt = MemoryContextSwitchTo(caller_cxt);
			result = construct_md_array(elems, elnulls, 1, dims, lbs,
										TEXTOID, -1, false, TYPALIGN_INT);
			MemoryContextSwitchTo(spi_cxt);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(result);
}

/*
 * Shares made in this transaction on rows of Citus tables, with what the
 * row was when shared (its ctid, as text).  A worker does not see a share
 * before the coordinator commits it, so it lets the row go (DELETE, a new
 * id) without a word: the share is checked again at commit by a deferred
 * trigger on tenancy.shares (_check_share_row), which compares the row then
 * with the row when shared.  Kept in the transaction's memory; a list from
 * an earlier transaction is recognised by its local transaction id and
 * dropped.  An entry of a rolled-back subtransaction is never asked for
 * (its share's trigger event went with it).
 */
typedef struct PendingShare
{
	char	   *key;
	char	   *fingerprint;
} PendingShare;

static List *pending_shares = NIL;
static LocalTransactionId pending_lxid = InvalidLocalTransactionId;

static void
pending_reset_if_stale(void)
{
	if (pending_lxid != MyProc->lxid)
	{
		pending_shares = NIL;	/* its memory went with its transaction */
		pending_lxid = MyProc->lxid;
	}
}

PG_FUNCTION_INFO_V1(tenancy_note_pending_share);
PG_FUNCTION_INFO_V1(tenancy_pending_share);

/* tenancy._note_pending_share(key text, fingerprint text) RETURNS void */
Datum
tenancy_note_pending_share(PG_FUNCTION_ARGS)
{
	MemoryContext old;
	PendingShare *p;
	char	   *key;
	ListCell   *lc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_VOID();
	pending_reset_if_stale();
	key = text_to_cstring(PG_GETARG_TEXT_PP(0));
	old = MemoryContextSwitchTo(TopTransactionContext);
	foreach(lc, pending_shares)
	{
		p = lfirst(lc);
		if (strcmp(p->key, key) == 0)
		{
			p->fingerprint = text_to_cstring(PG_GETARG_TEXT_PP(1));
			MemoryContextSwitchTo(old);
			PG_RETURN_VOID();
		}
	}
	p = palloc(sizeof(PendingShare));
	p->key = pstrdup(key);
	p->fingerprint = text_to_cstring(PG_GETARG_TEXT_PP(1));
	pending_shares = lappend(pending_shares, p);
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

/* tenancy._pending_share(key text) RETURNS text: the fingerprint, or NULL */
Datum
tenancy_pending_share(PG_FUNCTION_ARGS)
{
	char	   *key;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	pending_reset_if_stale();
	key = text_to_cstring(PG_GETARG_TEXT_PP(0));
	foreach(lc, pending_shares)
	{
		PendingShare *p = lfirst(lc);

		if (strcmp(p->key, key) == 0)
			PG_RETURN_TEXT_P(cstring_to_text(p->fingerprint));
	}
	PG_RETURN_NULL();
}
