/*
 * permset.h
 *		tenancy.permset: a set of "resource_type:action" permissions.
 *
 * A permission names a resource type and an action; either may be the
 * wildcard "*".  Names are 1..PERMSET_NAME_MAX bytes of [a-z0-9_], starting
 * with a letter or underscore.
 *
 * Canonical form.  A stored permset is always canonical: its entries are
 * sorted bytewise by (type, action), free of duplicates, and free of any
 * entry that another entry of the same set already covers ("pipeline:read"
 * is dropped beside "*:read" or "pipeline:*").  Because the universe of
 * types and actions is open, two canonical sets denote the same
 * permissions exactly when they are byte-for-byte equal, so equality,
 * hashing and ordering work on the bytes.
 *
 * On-disk and binary layout (version 1):
 *		varlena header
 *		uint8	version		PERMSET_FORMAT_VERSION
 *		uint8	flags		reserved, always 0
 *		uint16	count		number of entries
 *		then count entries, each: uint8 typelen, uint8 actlen,
 *		typelen bytes of type, actlen bytes of action (no terminators)
 */
#ifndef PG_TENANCY_PERMSET_H
#define PG_TENANCY_PERMSET_H

#include "postgres.h"
#include "fmgr.h"

#define PERMSET_FORMAT_VERSION	1
#define PERMSET_NAME_MAX		63
#define PERMSET_MAX_ENTRIES		65535

typedef struct PermSet
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint8		version;
	uint8		flags;
	uint16		count;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} PermSet;

#define PERMSET_HDRSZ		offsetof(PermSet, data)

#define DatumGetPermSetP(X)		((PermSet *) PG_DETOAST_DATUM(X))
#define PermSetPGetDatum(X)		PointerGetDatum(X)
#define PG_GETARG_PERMSET_P(n)	DatumGetPermSetP(PG_GETARG_DATUM(n))
#define PG_RETURN_PERMSET_P(x)	PG_RETURN_POINTER(x)

/* One permission; the names point into someone else's memory. */
typedef struct PermEntry
{
	const char *type;
	const char *action;
	uint8		typelen;
	uint8		actlen;
} PermEntry;

/* Accumulates entries from many sources, then builds one canonical set. */
typedef struct PermSetBuilder
{
	PermEntry  *items;
	int			count;
	int			capacity;
} PermSetBuilder;

/* Parse "type:action" (no braces).  Raises 22P02 on malformed input. */
extern void permission_parse(const char *str, PermEntry *out);

extern void permset_builder_init(PermSetBuilder *b);
extern void permset_builder_add(PermSetBuilder *b, const PermEntry *e);
/* Adds every entry of ps; ps must outlive the builder. */
extern void permset_builder_add_set(PermSetBuilder *b, const PermSet *ps);
extern PermSet *permset_builder_finish(PermSetBuilder *b);

extern PermSet *permset_empty(void);
extern bool permset_is_empty(const PermSet *ps);
/* Does ps grant the one permission e (which may itself use wildcards)? */
extern bool permset_allows(const PermSet *ps, const PermEntry *e);
/* Does a grant every permission that b grants? */
extern bool permset_contains(const PermSet *a, const PermSet *b);
extern PermSet *permset_union(const PermSet *a, const PermSet *b);
extern char *permset_to_cstring(const PermSet *ps);

#endif							/* PG_TENANCY_PERMSET_H */
