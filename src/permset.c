/*
 * permset.c
 *		The tenancy.permset type: a canonical set of "type:action" grants.
 *
 * The text and binary I/O functions are thin wrappers around the parsing,
 * validation and canonicalization helpers below; see permset.h for the
 * canonical form and the storage layout.
 *
 * The binary (send/recv) format is the storage layout without the varlena
 * header, with the count in network byte order:
 *		uint8	version		PERMSET_FORMAT_VERSION
 *		uint8	flags		reserved, always 0
 *		uint16	count
 *		count times: uint8 typelen, uint8 actlen, type bytes, action bytes
 * permset_recv trusts none of it: it checks every length against the data
 * left, validates every name and canonicalizes the result.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "compat.h"
#include "permset.h"

PG_FUNCTION_INFO_V1(permset_in);
PG_FUNCTION_INFO_V1(permset_out);
PG_FUNCTION_INFO_V1(permset_recv);
PG_FUNCTION_INFO_V1(permset_send);
PG_FUNCTION_INFO_V1(permset_eq);
PG_FUNCTION_INFO_V1(permset_ne);
PG_FUNCTION_INFO_V1(permset_lt);
PG_FUNCTION_INFO_V1(permset_le);
PG_FUNCTION_INFO_V1(permset_gt);
PG_FUNCTION_INFO_V1(permset_ge);
PG_FUNCTION_INFO_V1(permset_cmp);
PG_FUNCTION_INFO_V1(permset_hash);
PG_FUNCTION_INFO_V1(permset_hash_extended);
PG_FUNCTION_INFO_V1(permset_contains_sql);
PG_FUNCTION_INFO_V1(permset_contained);
PG_FUNCTION_INFO_V1(permset_union_sql);
PG_FUNCTION_INFO_V1(permset_allows_text);
PG_FUNCTION_INFO_V1(permset_elements);
PG_FUNCTION_INFO_V1(permset_count);

/* Size of an entry's own header: typelen and actlen. */
#define PERMSET_ENTRY_HDRSZ		2

/* What went wrong while parsing text; turned into an errdetail. */
typedef enum PermErrorKind
{
	PERR_EMPTY,					/* "" given to permission_parse */
	PERR_NO_ACTION,				/* "pipeline" or "pipeline:" */
	PERR_NO_TYPE,				/* ":read" */
	PERR_EXTRA_COLON,			/* "a:b:c" */
	PERR_BAD_TYPE,				/* resource type breaks the name syntax */
	PERR_BAD_ACTION,			/* action breaks the name syntax */
	PERR_LONG_TYPE,				/* resource type too long */
	PERR_LONG_ACTION,			/* action too long */
	PERR_NO_OPEN_BRACE,			/* input does not start with "{" */
	PERR_NO_CLOSE_BRACE,		/* input ends before "}" */
	PERR_EMPTY_ENTRY,			/* "{a:b,,c:d}" or "{a:b,}" */
	PERR_BAD_SEPARATOR,			/* "{a:b c:d}" */
	PERR_TRAILING,				/* "{a:b} x" */
	PERR_TOO_MANY				/* more than PERMSET_MAX_ENTRIES */
} PermErrorKind;

typedef struct PermError
{
	PermErrorKind kind;
	const char *text;			/* the offending permission or name */
	int			len;			/* its length in bytes */
	int			position;		/* 1-based number of the permission */
} PermError;

typedef enum NameStatus
{
	NAME_OK,
	NAME_EMPTY,
	NAME_TOO_LONG,
	NAME_BAD_SYNTAX
} NameStatus;

static const char wildcard[] = "*";


/*
 * Small helpers
 */

static inline bool
pt_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

static inline bool
name_is_wildcard(const char *name, int len)
{
	return len == 1 && name[0] == '*';
}

static inline bool
names_equal(const char *a, int alen, const char *b, int blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* Bytewise comparison; a proper prefix sorts first. */
static inline int
name_cmp(const char *a, int alen, const char *b, int blen)
{
	int			r = memcmp(a, b, Min(alen, blen));

	if (r != 0)
		return r;
	return (alen > blen) - (alen < blen);
}

static inline int
entry_cmp(const PermEntry *a, const PermEntry *b)
{
	int			r = name_cmp(a->type, a->typelen, b->type, b->typelen);

	if (r != 0)
		return r;
	return name_cmp(a->action, a->actlen, b->action, b->actlen);
}

static int
entry_qsort_cmp(const void *a, const void *b)
{
	return entry_cmp((const PermEntry *) a, (const PermEntry *) b);
}

/* Does p cover q, that is, does granting p grant q? */
static inline bool
entry_covers(const PermEntry *p, const PermEntry *q)
{
	return (name_is_wildcard(p->type, p->typelen) ||
			names_equal(p->type, p->typelen, q->type, q->typelen)) &&
		(name_is_wildcard(p->action, p->actlen) ||
		 names_equal(p->action, p->actlen, q->action, q->actlen));
}

/* Check a name against the syntax: "*" or [a-z_][a-z0-9_]*, 1..63 bytes. */
static NameStatus
check_name(const char *name, int len)
{
	int			i;

	if (len <= 0)
		return NAME_EMPTY;
	if (len > PERMSET_NAME_MAX)
		return NAME_TOO_LONG;
	if (name_is_wildcard(name, len))
		return NAME_OK;
	if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
		return NAME_BAD_SYNTAX;
	for (i = 1; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return NAME_BAD_SYNTAX;
	}
	return NAME_OK;
}

static inline void
set_error(PermError *err, PermErrorKind kind, const char *text, int len,
		  int position)
{
	err->kind = kind;
	err->text = text;
	err->len = len;
	err->position = position;
}

/*
 * Emit the errdetail for a text parsing error.  Call only inside ereport().
 */
static int
errdetail_permerror(const PermError *err)
{
	switch (err->kind)
	{
		case PERR_EMPTY:
			return errdetail("The permission is empty.");
		case PERR_NO_ACTION:
			return errdetail("Permission \"%.*s\" has no action.",
							 err->len, err->text);
		case PERR_NO_TYPE:
			return errdetail("Permission \"%.*s\" has no resource type.",
							 err->len, err->text);
		case PERR_EXTRA_COLON:
			return errdetail("Permission \"%.*s\" contains more than one \":\".",
							 err->len, err->text);
		case PERR_BAD_TYPE:
			return errdetail("\"%.*s\" is not a valid resource type: a name is \"*\" or lower-case letters, digits and underscores, not starting with a digit.",
							 err->len, err->text);
		case PERR_BAD_ACTION:
			return errdetail("\"%.*s\" is not a valid action: a name is \"*\" or lower-case letters, digits and underscores, not starting with a digit.",
							 err->len, err->text);
		case PERR_LONG_TYPE:
			return errdetail("Resource type \"%.*s\" is longer than %d bytes.",
							 err->len, err->text, PERMSET_NAME_MAX);
		case PERR_LONG_ACTION:
			return errdetail("Action \"%.*s\" is longer than %d bytes.",
							 err->len, err->text, PERMSET_NAME_MAX);
		case PERR_NO_OPEN_BRACE:
			return errdetail("Expected \"{\" at the start.");
		case PERR_NO_CLOSE_BRACE:
			return errdetail("Expected \"}\" at the end.");
		case PERR_EMPTY_ENTRY:
			return errdetail("Empty permission at position %d.",
							 err->position);
		case PERR_BAD_SEPARATOR:
			return errdetail("Expected \",\" or \"}\" after permission \"%.*s\".",
							 err->len, err->text);
		case PERR_TRAILING:
			return errdetail("Unexpected text after \"}\".");
		case PERR_TOO_MANY:
			return errdetail("A permset can hold at most %d permissions.",
							 PERMSET_MAX_ENTRIES);
	}
	return 0;					/* keep compiler quiet */
}

/*
 * Parse one "type:action" of len bytes at str.  On success fill *out with
 * pointers into str; otherwise describe the problem in *err.
 */
static bool
parse_permission(const char *str, int len, PermEntry *out, PermError *err)
{
	const char *colon = memchr(str, ':', len);
	const char *action;
	int			typelen;
	int			actlen;

	if (len == 0)
	{
		set_error(err, PERR_EMPTY, str, len, 0);
		return false;
	}
	if (colon == NULL)
	{
		set_error(err, PERR_NO_ACTION, str, len, 0);
		return false;
	}
	typelen = colon - str;
	action = colon + 1;
	actlen = len - typelen - 1;

	if (typelen == 0)
	{
		set_error(err, PERR_NO_TYPE, str, len, 0);
		return false;
	}
	if (memchr(action, ':', actlen) != NULL)
	{
		set_error(err, PERR_EXTRA_COLON, str, len, 0);
		return false;
	}
	if (actlen == 0)
	{
		set_error(err, PERR_NO_ACTION, str, len, 0);
		return false;
	}

	switch (check_name(str, typelen))
	{
		case NAME_OK:
			break;
		case NAME_TOO_LONG:
			set_error(err, PERR_LONG_TYPE, str, typelen, 0);
			return false;
		case NAME_EMPTY:
		case NAME_BAD_SYNTAX:
			set_error(err, PERR_BAD_TYPE, str, typelen, 0);
			return false;
	}
	switch (check_name(action, actlen))
	{
		case NAME_OK:
			break;
		case NAME_TOO_LONG:
			set_error(err, PERR_LONG_ACTION, action, actlen, 0);
			return false;
		case NAME_EMPTY:
		case NAME_BAD_SYNTAX:
			set_error(err, PERR_BAD_ACTION, action, actlen, 0);
			return false;
	}

	out->type = str;
	out->typelen = (uint8) typelen;
	out->action = action;
	out->actlen = (uint8) actlen;
	return true;
}


/*
 * Reading the stored form
 */

static inline const char *
permset_first_entry(const PermSet *ps)
{
	if (ps->version != PERMSET_FORMAT_VERSION)
		elog(ERROR, "unrecognized permset format version %d",
			 (int) ps->version);
	return ps->data;
}

/* Decode the entry at ptr into *e and return the position of the next. */
static inline const char *
permset_next_entry(const char *ptr, PermEntry *e)
{
	e->typelen = (uint8) ptr[0];
	e->actlen = (uint8) ptr[1];
	e->type = ptr + PERMSET_ENTRY_HDRSZ;
	e->action = e->type + e->typelen;
	return e->action + e->actlen;
}

/* All entries of ps as an array (pointing into ps), in canonical order. */
static PermEntry *
permset_decode(const PermSet *ps)
{
	PermEntry  *items = palloc(Max(ps->count, 1) * sizeof(PermEntry));
	const char *ptr = permset_first_entry(ps);
	int			i;

	for (i = 0; i < ps->count; i++)
		ptr = permset_next_entry(ptr, &items[i]);
	return items;
}

/* Is the exact entry (type, action) among the n sorted items? */
static bool
sorted_find(const PermEntry *items, int n,
			const char *type, int typelen, const char *action, int actlen)
{
	PermEntry	key;

	if (n == 0)
		return false;
	key.type = type;
	key.typelen = (uint8) typelen;
	key.action = action;
	key.actlen = (uint8) actlen;
	return bsearch(&key, items, n, sizeof(PermEntry), entry_qsort_cmp) != NULL;
}

/*
 * Is q covered by some entry of the n sorted items other than q itself?
 * Only "*:*", "*:action" and "type:*" can cover q, so look for those.
 */
static bool
sorted_covered(const PermEntry *items, int n, const PermEntry *q)
{
	bool		type_wild = name_is_wildcard(q->type, q->typelen);
	bool		act_wild = name_is_wildcard(q->action, q->actlen);

	if (!(type_wild && act_wild) &&
		sorted_find(items, n, wildcard, 1, wildcard, 1))
		return true;
	if (!type_wild &&
		sorted_find(items, n, wildcard, 1, q->action, q->actlen))
		return true;
	if (!act_wild &&
		sorted_find(items, n, q->type, q->typelen, wildcard, 1))
		return true;
	return false;
}


/*
 * The builder
 */

void
permset_builder_init(PermSetBuilder *b)
{
	b->items = NULL;
	b->count = 0;
	b->capacity = 0;
}

/*
 * Sort the entries, then drop duplicates and covered entries.  Dropping a
 * covered entry is always safe, even halfway through building: whatever
 * later covers its coverer covers it too.
 */
static void
builder_canonicalize(PermSetBuilder *b)
{
	PermEntry  *items = b->items;
	bool	   *keep;
	int			nuniq;
	int			nkeep;
	int			i;

	if (b->count <= 1)
		return;

	qsort(items, b->count, sizeof(PermEntry), entry_qsort_cmp);

	nuniq = 1;
	for (i = 1; i < b->count; i++)
	{
		if (entry_cmp(&items[i], &items[nuniq - 1]) != 0)
			items[nuniq++] = items[i];
	}

	/* decide against the full unique array first, then compact */
	keep = palloc(nuniq * sizeof(bool));
	for (i = 0; i < nuniq; i++)
		keep[i] = !sorted_covered(items, nuniq, &items[i]);

	nkeep = 0;
	for (i = 0; i < nuniq; i++)
	{
		if (keep[i])
			items[nkeep++] = items[i];
	}
	pfree(keep);

	b->count = nkeep;
}

/*
 * Make room for one more entry.  Once the array is large, compact it
 * rather than grow it, so that any amount of duplicated input fits in
 * bounded memory.  Returns false if even the canonical set is too large.
 */
static bool
builder_make_room(PermSetBuilder *b)
{
	int			newcap;

	if (b->count < b->capacity)
		return true;

	if (b->count >= 2 * PERMSET_MAX_ENTRIES)
	{
		builder_canonicalize(b);
		return b->count <= PERMSET_MAX_ENTRIES;
	}

	newcap = (b->capacity == 0) ? 8 : b->capacity * 2;
	if (b->items == NULL)
		b->items = palloc(newcap * sizeof(PermEntry));
	else
		b->items = repalloc(b->items, newcap * sizeof(PermEntry));
	b->capacity = newcap;
	return true;
}

static void
report_too_many(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("permset has too many permissions"),
			 errdetail("A permset can hold at most %d permissions.",
					   PERMSET_MAX_ENTRIES)));
}

void
permset_builder_add(PermSetBuilder *b, const PermEntry *e)
{
	Assert(e->typelen >= 1 && e->typelen <= PERMSET_NAME_MAX);
	Assert(e->actlen >= 1 && e->actlen <= PERMSET_NAME_MAX);

	if (!builder_make_room(b))
		report_too_many();
	b->items[b->count++] = *e;
}

void
permset_builder_add_set(PermSetBuilder *b, const PermSet *ps)
{
	const char *ptr = permset_first_entry(ps);
	int			i;

	for (i = 0; i < ps->count; i++)
	{
		PermEntry	e;

		ptr = permset_next_entry(ptr, &e);
		permset_builder_add(b, &e);
	}
}

/* Lay out the builder's entries, which must be canonical already. */
static PermSet *
builder_serialize(const PermSetBuilder *b)
{
	Size		size = PERMSET_HDRSZ;
	PermSet    *ps;
	char	   *ptr;
	int			i;

	Assert(b->count <= PERMSET_MAX_ENTRIES);

	for (i = 0; i < b->count; i++)
		size += PERMSET_ENTRY_HDRSZ + b->items[i].typelen + b->items[i].actlen;

	ps = palloc0(size);
	SET_VARSIZE(ps, size);
	ps->version = PERMSET_FORMAT_VERSION;
	ps->flags = 0;
	ps->count = (uint16) b->count;

	ptr = ps->data;
	for (i = 0; i < b->count; i++)
	{
		const PermEntry *e = &b->items[i];

		ptr[0] = (char) e->typelen;
		ptr[1] = (char) e->actlen;
		ptr += PERMSET_ENTRY_HDRSZ;
		memcpy(ptr, e->type, e->typelen);
		ptr += e->typelen;
		memcpy(ptr, e->action, e->actlen);
		ptr += e->actlen;
	}
	Assert(ptr == (char *) ps + size);

	return ps;
}

static void
builder_free(PermSetBuilder *b)
{
	if (b->items != NULL)
		pfree(b->items);
	permset_builder_init(b);
}

PermSet *
permset_builder_finish(PermSetBuilder *b)
{
	PermSet    *ps;

	builder_canonicalize(b);
	if (b->count > PERMSET_MAX_ENTRIES)
		report_too_many();
	ps = builder_serialize(b);
	builder_free(b);
	return ps;
}


/*
 * Parsing and deparsing
 */

void
permission_parse(const char *str, PermEntry *out)
{
	PermError	err;

	if (!parse_permission(str, strlen(str), out, &err))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid permission: \"%s\"", str),
				 errdetail_permerror(&err)));
}

/*
 * Parse the text form "{type:action, ...}" into the builder.  The entries
 * point into str.  On failure describe the problem in *err.
 */
static bool
permset_parse_text(const char *str, PermSetBuilder *b, PermError *err)
{
	const char *p = str;
	int			position = 0;

	while (pt_isspace(*p))
		p++;
	if (*p != '{')
	{
		set_error(err, PERR_NO_OPEN_BRACE, NULL, 0, 0);
		return false;
	}
	p++;
	while (pt_isspace(*p))
		p++;

	if (*p != '}')
	{
		for (;;)
		{
			const char *start = p;
			int			len;
			PermEntry	e;

			position++;
			while (*p != '\0' && !pt_isspace(*p) && *p != ',' && *p != '}')
				p++;
			len = p - start;
			if (len == 0)
			{
				if (*p == '\0')
					set_error(err, PERR_NO_CLOSE_BRACE, NULL, 0, 0);
				else
					set_error(err, PERR_EMPTY_ENTRY, NULL, 0, position);
				return false;
			}
			if (!parse_permission(start, len, &e, err))
				return false;
			if (!builder_make_room(b))
			{
				set_error(err, PERR_TOO_MANY, NULL, 0, position);
				return false;
			}
			permset_builder_add(b, &e);

			while (pt_isspace(*p))
				p++;
			if (*p == '}')
				break;
			if (*p == '\0')
			{
				set_error(err, PERR_NO_CLOSE_BRACE, NULL, 0, 0);
				return false;
			}
			if (*p != ',')
			{
				set_error(err, PERR_BAD_SEPARATOR, start, len, position);
				return false;
			}
			p++;
			while (pt_isspace(*p))
				p++;
		}
	}

	Assert(*p == '}');
	p++;
	while (pt_isspace(*p))
		p++;
	if (*p != '\0')
	{
		set_error(err, PERR_TRAILING, NULL, 0, 0);
		return false;
	}
	return true;
}

char *
permset_to_cstring(const PermSet *ps)
{
	StringInfoData buf;
	const char *ptr = permset_first_entry(ps);
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < ps->count; i++)
	{
		PermEntry	e;

		ptr = permset_next_entry(ptr, &e);
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendBinaryStringInfo(&buf, e.type, e.typelen);
		appendStringInfoChar(&buf, ':');
		appendBinaryStringInfo(&buf, e.action, e.actlen);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}


/*
 * Set operations
 */

PermSet *
permset_empty(void)
{
	PermSet    *ps = palloc0(PERMSET_HDRSZ);

	SET_VARSIZE(ps, PERMSET_HDRSZ);
	ps->version = PERMSET_FORMAT_VERSION;
	ps->flags = 0;
	ps->count = 0;
	return ps;
}

bool
permset_is_empty(const PermSet *ps)
{
	return ps->count == 0;
}

bool
permset_allows(const PermSet *ps, const PermEntry *e)
{
	const char *ptr = permset_first_entry(ps);
	int			i;

	for (i = 0; i < ps->count; i++)
	{
		PermEntry	p;

		ptr = permset_next_entry(ptr, &p);
		if (entry_covers(&p, e))
			return true;
	}
	return false;
}

/*
 * Because names are open-ended, a wildcard entry of b is granted only by an
 * equal or wider single entry of a, never by several narrower ones; so a
 * contains b exactly when each entry of b is covered by some entry of a.
 */
bool
permset_contains(const PermSet *a, const PermSet *b)
{
	PermEntry  *items;
	const char *ptr;
	bool		result = true;
	int			i;

	if (b->count == 0)
		return true;
	if (a->count == 0)
		return false;

	items = permset_decode(a);
	ptr = permset_first_entry(b);
	for (i = 0; i < b->count; i++)
	{
		PermEntry	q;

		ptr = permset_next_entry(ptr, &q);
		if (!sorted_find(items, a->count, q.type, q.typelen,
						 q.action, q.actlen) &&
			!sorted_covered(items, a->count, &q))
		{
			result = false;
			break;
		}
	}
	pfree(items);
	return result;
}

PermSet *
permset_union(const PermSet *a, const PermSet *b)
{
	PermSetBuilder builder;

	permset_builder_init(&builder);
	permset_builder_add_set(&builder, a);
	permset_builder_add_set(&builder, b);
	return permset_builder_finish(&builder);
}

/*
 * A total order: entry by entry in canonical order, a proper prefix first.
 * Two canonical sets compare equal exactly when their bytes are equal.
 */
static int
permset_cmp_internal(const PermSet *a, const PermSet *b)
{
	const char *pa = permset_first_entry(a);
	const char *pb = permset_first_entry(b);
	int			n = Min(a->count, b->count);
	int			i;

	for (i = 0; i < n; i++)
	{
		PermEntry	ea;
		PermEntry	eb;
		int			r;

		pa = permset_next_entry(pa, &ea);
		pb = permset_next_entry(pb, &eb);
		r = entry_cmp(&ea, &eb);
		if (r != 0)
			return r;
	}
	return (a->count > b->count) - (a->count < b->count);
}


/*
 * SQL-callable functions
 */

Datum
permset_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	Node	   *escontext = PT_ESCONTEXT(fcinfo);
	PermSetBuilder builder;
	PermError	err;

	permset_builder_init(&builder);
	if (permset_parse_text(str, &builder, &err))
	{
		builder_canonicalize(&builder);
		if (builder.count <= PERMSET_MAX_ENTRIES)
			PG_RETURN_PERMSET_P(permset_builder_finish(&builder));
		set_error(&err, PERR_TOO_MANY, NULL, 0, 0);
	}

	PT_INPUT_ERROR(escontext, (Datum) 0,
				   errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				   errmsg("invalid input syntax for type %s: \"%s\"",
						  "permset", str),
				   errdetail_permerror(&err));
}

Datum
permset_out(PG_FUNCTION_ARGS)
{
	PermSet    *ps = PG_GETARG_PERMSET_P(0);

	PG_RETURN_CSTRING(permset_to_cstring(ps));
}

/* Fail unless at least n more bytes are left in buf. */
static void
recv_require(StringInfo buf, int n, int position)
{
	if (buf->len - buf->cursor >= n)
		return;
	if (position == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type %s", "permset"),
				 errdetail("The data ends inside the header.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid binary data for type %s", "permset"),
			 errdetail("The data ends inside permission %d.", position)));
}

/* Fail unless a name received in permission number position is valid. */
static void
recv_check_name(const char *name, int len, bool is_type, int position)
{
	switch (check_name(name, len))
	{
		case NAME_OK:
			return;
		case NAME_EMPTY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid binary data for type %s", "permset"),
					 is_type ?
					 errdetail("Permission %d has an empty resource type.",
							   position) :
					 errdetail("Permission %d has an empty action.",
							   position)));
			break;
		case NAME_TOO_LONG:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid binary data for type %s", "permset"),
					 is_type ?
					 errdetail("The resource type of permission %d is longer than %d bytes.",
							   position, PERMSET_NAME_MAX) :
					 errdetail("The action of permission %d is longer than %d bytes.",
							   position, PERMSET_NAME_MAX)));
			break;
		case NAME_BAD_SYNTAX:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid binary data for type %s", "permset"),
					 is_type ?
					 errdetail("The resource type of permission %d is not a valid name.",
							   position) :
					 errdetail("The action of permission %d is not a valid name.",
							   position),
					 errhint("A name is \"*\" or lower-case letters, digits and underscores, not starting with a digit.")));
			break;
	}
}

Datum
permset_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	PermSetBuilder builder;
	int			version;
	int			flags;
	int			count;
	int			i;

	recv_require(buf, 4, 0);
	version = pq_getmsgbyte(buf);
	if (version != PERMSET_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported binary format version %d for type %s",
						version, "permset"),
				 errdetail("Only version %d is supported.",
						   PERMSET_FORMAT_VERSION)));
	flags = pq_getmsgbyte(buf);
	if (flags != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type %s", "permset"),
				 errdetail("The reserved flags byte is %d, but must be 0.",
						   flags)));
	/* a uint16 cannot exceed PERMSET_MAX_ENTRIES */
	count = (int) (uint16) pq_getmsgint(buf, 2);

	permset_builder_init(&builder);
	for (i = 1; i <= count; i++)
	{
		PermEntry	e;
		int			typelen;
		int			actlen;

		recv_require(buf, PERMSET_ENTRY_HDRSZ, i);
		typelen = pq_getmsgbyte(buf);
		actlen = pq_getmsgbyte(buf);
		recv_require(buf, typelen + actlen, i);
		e.type = pq_getmsgbytes(buf, typelen);
		e.action = pq_getmsgbytes(buf, actlen);
		recv_check_name(e.type, typelen, true, i);
		recv_check_name(e.action, actlen, false, i);
		e.typelen = (uint8) typelen;
		e.actlen = (uint8) actlen;
		permset_builder_add(&builder, &e);
	}

	/* the entries point into buf, which outlives the builder */
	PG_RETURN_PERMSET_P(permset_builder_finish(&builder));
}

Datum
permset_send(PG_FUNCTION_ARGS)
{
	PermSet    *ps = PG_GETARG_PERMSET_P(0);
	StringInfoData buf;
	const char *ptr = permset_first_entry(ps);
	int			i;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, PERMSET_FORMAT_VERSION);
	pq_sendbyte(&buf, 0);
	pq_sendint16(&buf, ps->count);
	for (i = 0; i < ps->count; i++)
	{
		PermEntry	e;

		ptr = permset_next_entry(ptr, &e);
		pq_sendbyte(&buf, e.typelen);
		pq_sendbyte(&buf, e.actlen);
		pq_sendbytes(&buf, e.type, e.typelen);
		pq_sendbytes(&buf, e.action, e.actlen);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Equality of the two arguments, without detoasting when sizes differ. */
static bool
permset_equal_args(FunctionCallInfo fcinfo)
{
	Datum		da = PG_GETARG_DATUM(0);
	Datum		db = PG_GETARG_DATUM(1);
	PermSet    *a;
	PermSet    *b;
	bool		result;

	if (toast_raw_datum_size(da) != toast_raw_datum_size(db))
		return false;

	a = PG_GETARG_PERMSET_P(0);
	b = PG_GETARG_PERMSET_P(1);
	result = memcmp(a, b, VARSIZE(a)) == 0;
	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return result;
}

static int
permset_cmp_args(FunctionCallInfo fcinfo)
{
	PermSet    *a = PG_GETARG_PERMSET_P(0);
	PermSet    *b = PG_GETARG_PERMSET_P(1);
	int			result = permset_cmp_internal(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return result;
}

Datum
permset_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(permset_equal_args(fcinfo));
}

Datum
permset_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!permset_equal_args(fcinfo));
}

Datum
permset_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(permset_cmp_args(fcinfo) < 0);
}

Datum
permset_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(permset_cmp_args(fcinfo) <= 0);
}

Datum
permset_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(permset_cmp_args(fcinfo) > 0);
}

Datum
permset_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(permset_cmp_args(fcinfo) >= 0);
}

Datum
permset_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(permset_cmp_args(fcinfo));
}

Datum
permset_hash(PG_FUNCTION_ARGS)
{
	PermSet    *ps = PG_GETARG_PERMSET_P(0);
	Datum		result;

	result = hash_any((unsigned char *) VARDATA(ps), VARSIZE(ps) - VARHDRSZ);
	PG_FREE_IF_COPY(ps, 0);
	return result;
}

Datum
permset_hash_extended(PG_FUNCTION_ARGS)
{
	PermSet    *ps = PG_GETARG_PERMSET_P(0);
	uint64		seed = PG_GETARG_INT64(1);
	Datum		result;

	result = hash_any_extended((unsigned char *) VARDATA(ps),
							   VARSIZE(ps) - VARHDRSZ, seed);
	PG_FREE_IF_COPY(ps, 0);
	return result;
}

Datum
permset_contains_sql(PG_FUNCTION_ARGS)
{
	PermSet    *a = PG_GETARG_PERMSET_P(0);
	PermSet    *b = PG_GETARG_PERMSET_P(1);
	bool		result = permset_contains(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	PG_RETURN_BOOL(result);
}

Datum
permset_contained(PG_FUNCTION_ARGS)
{
	PermSet    *a = PG_GETARG_PERMSET_P(0);
	PermSet    *b = PG_GETARG_PERMSET_P(1);
	bool		result = permset_contains(b, a);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	PG_RETURN_BOOL(result);
}

Datum
permset_union_sql(PG_FUNCTION_ARGS)
{
	PermSet    *a = PG_GETARG_PERMSET_P(0);
	PermSet    *b = PG_GETARG_PERMSET_P(1);

	/* the common case in permset_agg: nothing new */
	if (permset_contains(a, b))
		PG_RETURN_PERMSET_P(a);
	if (permset_contains(b, a))
		PG_RETURN_PERMSET_P(b);
	PG_RETURN_PERMSET_P(permset_union(a, b));
}

Datum
permset_allows_text(PG_FUNCTION_ARGS)
{
	PermSet    *ps = PG_GETARG_PERMSET_P(0);
	char	   *str = text_to_cstring(PG_GETARG_TEXT_PP(1));
	PermEntry	e;
	bool		result;

	permission_parse(str, &e);
	result = permset_allows(ps, &e);
	pfree(str);
	PG_FREE_IF_COPY(ps, 0);
	PG_RETURN_BOOL(result);
}

typedef struct ElementsState
{
	PermSet    *ps;				/* private copy of the argument */
	const char *next;			/* next entry to return */
	int			remaining;
} ElementsState;

Datum
permset_elements(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	ElementsState *state;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		state = palloc(sizeof(ElementsState));
		state->ps = (PermSet *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(0));
		state->next = permset_first_entry(state->ps);
		state->remaining = state->ps->count;
		funcctx->user_fctx = state;
		MemoryContextSwitchTo(oldcontext);
	}

	funcctx = SRF_PERCALL_SETUP();
	state = (ElementsState *) funcctx->user_fctx;

	if (state->remaining > 0)
	{
		PermEntry	e;
		text	   *result;
		char	   *ptr;

		state->next = permset_next_entry(state->next, &e);
		state->remaining--;

		result = palloc(VARHDRSZ + e.typelen + 1 + e.actlen);
		SET_VARSIZE(result, VARHDRSZ + e.typelen + 1 + e.actlen);
		ptr = VARDATA(result);
		memcpy(ptr, e.type, e.typelen);
		ptr += e.typelen;
		*ptr++ = ':';
		memcpy(ptr, e.action, e.actlen);

		SRF_RETURN_NEXT(funcctx, PointerGetDatum(result));
	}

	SRF_RETURN_DONE(funcctx);
}

Datum
permset_count(PG_FUNCTION_ARGS)
{
	PermSet    *ps = PG_GETARG_PERMSET_P(0);
	int32		result = ps->count;

	PG_FREE_IF_COPY(ps, 0);
	PG_RETURN_INT32(result);
}
