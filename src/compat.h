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

/* The local id of the current top-level transaction moved in 17. */
#if PG_VERSION_NUM >= 170000
#define PT_MY_LXID	(MyProc->vxid.lxid)
#else
#define PT_MY_LXID	(MyProc->lxid)
#endif

#endif							/* PG_TENANCY_COMPAT_H */
