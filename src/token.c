/*
 * token.c
 *		Verification of signed context tokens.
 *
 * A token is a compact JWS: base64url(header) "." base64url(payload) "."
 * base64url(signature).  The header names the algorithm ("alg": HS256,
 * RS256, ES256 or EdDSA; "none" and anything else are refused) and usually
 * the key ("kid"); the key, from tenancy.signing_keys (keys.c), must be of
 * that very algorithm, so that a public key can never be used as an HMAC
 * secret.  The payload carries the user, at the path tenancy.user_claim
 * names ("sub" unless set otherwise): a user's external subject at the
 * token's issuer, or a user's uuid; optionally the tenant's uuid, at
 * tenancy.tenant_claim ("tenant"); "exp" (Unix seconds; required); and
 * "nbf", "iss" and "aud", checked as the key says.
 *
 * Everything here reports failure by return value, never by ereport, so
 * that it can run inside the GUC check hook that establishes the context.
 * Hostile input is bounded before anything is parsed: the token's length,
 * the canonical form of its base64url, the encoding of its JSON, and the
 * nesting depth of that JSON (PostgreSQL's JSON parser checks the stack
 * depth as it recurses, and that check raises an error).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "common/base64.h"
#include "common/jsonapi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "context.h"
#include "keys.h"
#include "resolve.h"
#include "token.h"

/* Limits checked before anything is parsed. */
#define TOKEN_MAX_LENGTH	8192
#define TOKEN_MAX_DEPTH		16

/* The top-level members read from the header and the payload. */
typedef enum ClaimMember
{
	CM_OTHER = -1,
	CM_ALG,
	CM_KID,
	CM_EXP,
	CM_NBF,
	CM_ISS,
	CM_AUD,
	CM_COUNT
} ClaimMember;

static const char *const claim_names[CM_COUNT] = {
	"alg", "kid", "exp", "nbf", "iss", "aud"
};

/* The claims found at a path (tenancy.user_claim, tenancy.tenant_claim). */
typedef enum ClaimPathKind
{
	CP_USER,
	CP_TENANT,
	CP_COUNT
} ClaimPathKind;

/*
 * What the JSON walk collects: top-level members, "aud" as an array, and
 * the values at the user and tenant paths.
 */
typedef struct ClaimsParse
{
	int			depth;
	bool		is_object;		/* the top level is an object */
	bool		repeated;		/* a member read here appears twice */
	bool		aud_bad;		/* "aud" is neither a string nor strings */
	bool		in_aud;			/* inside the "aud" array */
	int			arrays;			/* arrays open around the current value */
	ClaimMember member;			/* top-level member being read */
	char	   *value[CM_COUNT];
	JsonTokenType type[CM_COUNT];
	bool		seen[CM_COUNT];
	List	   *aud;			/* "aud" strings, from a string or an array */
	const char *names[TOKEN_MAX_DEPTH + 2];	/* member names, by depth */
	const ClaimPath *path[CP_COUNT];
	char	   *path_value[CP_COUNT];	/* NULL if not a scalar */
	JsonTokenType path_type[CP_COUNT];
	bool		path_seen[CP_COUNT];
	uint32		ancestors_seen[CP_COUNT];	/* bit d: the path's member at depth d */
} ClaimsParse;

/* Are the member names from the top down to depth len those of the path? */
static bool
path_prefix_matches(const ClaimsParse *p, const ClaimPath *path, int len)
{
	int			i;

	for (i = 0; i < len; i++)
		if (strcmp(p->names[i + 1], path->names[i]) != 0)
			return false;
	return true;
}

/* Is the value about to be read (at depth p->depth) at this path? */
static bool
at_path(const ClaimsParse *p, const ClaimPath *path)
{
	if (path == NULL || p->arrays > 0 || path->n != p->depth)
		return false;
	return path_prefix_matches(p, path, path->n);
}

/* A value at a path: a scalar's text, or NULL for an object or array. */
static void
note_path_values(ClaimsParse *p, char *token, JsonTokenType type)
{
	int			k;

	for (k = 0; k < CP_COUNT; k++)
	{
		if (!at_path(p, p->path[k]))
			continue;
		if (p->path_seen[k])
			p->repeated = true;
		p->path_seen[k] = true;
		p->path_value[k] = token;
		p->path_type[k] = type;
	}
}

static JSON_ACTION_RESULT
claims_object_start(void *state)
{
	ClaimsParse *p = state;

	note_path_values(p, NULL, JSON_TOKEN_OBJECT_START);
	if (p->depth == 0)
		p->is_object = true;
	else if (p->depth == 1 && p->member == CM_AUD)
		p->aud_bad = true;
	else if (p->in_aud)
		p->aud_bad = true;
	p->depth++;
	JSON_ACTION_RETURN;
}

static JSON_ACTION_RESULT
claims_object_end(void *state)
{
	((ClaimsParse *) state)->depth--;
	JSON_ACTION_RETURN;
}

static JSON_ACTION_RESULT
claims_array_start(void *state)
{
	ClaimsParse *p = state;

	note_path_values(p, NULL, JSON_TOKEN_ARRAY_START);
	if (p->depth == 1 && p->member == CM_AUD)
		p->in_aud = true;
	else if (p->in_aud)
		p->aud_bad = true;
	p->arrays++;
	p->depth++;
	JSON_ACTION_RETURN;
}

static JSON_ACTION_RESULT
claims_array_end(void *state)
{
	ClaimsParse *p = state;

	p->depth--;
	p->arrays--;
	if (p->depth == 1 && p->in_aud)
		p->in_aud = false;
	JSON_ACTION_RETURN;
}

static JSON_ACTION_RESULT
claims_field_start(void *state, char *fname, bool isnull)
{
	ClaimsParse *p = state;
	int			i;

	if (p->depth <= TOKEN_MAX_DEPTH + 1)
		p->names[p->depth] = fname;

	/*
	 * A member on the way to a claim's path given twice ({"app": {...},
	 * "app": {...}}) would let this reader and another (where the last one
	 * wins) see different claims: refuse it, as a repeated claim.
	 */
	if (p->arrays == 0)
	{
		int			k;

		for (k = 0; k < CP_COUNT; k++)
		{
			const ClaimPath *path = p->path[k];

			if (path == NULL || p->depth < 1 || p->depth >= path->n ||
				!path_prefix_matches(p, path, p->depth))
				continue;
			if (p->ancestors_seen[k] & (((uint32) 1) << p->depth))
				p->repeated = true;
			p->ancestors_seen[k] |= ((uint32) 1) << p->depth;
		}
	}
	if (p->depth != 1)
		JSON_ACTION_RETURN;
	p->member = CM_OTHER;
	for (i = 0; i < CM_COUNT; i++)
	{
		if (strcmp(fname, claim_names[i]) == 0)
		{
			if (p->seen[i])
				p->repeated = true;
			p->seen[i] = true;
			p->member = (ClaimMember) i;
			break;
		}
	}
	JSON_ACTION_RETURN;
}

static JSON_ACTION_RESULT
claims_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ClaimsParse *p = state;

	note_path_values(p, token, tokentype);
	if (p->depth == 1 && p->member != CM_OTHER)
	{
		p->value[p->member] = token;
		p->type[p->member] = tokentype;
		if (p->member == CM_AUD)
		{
			if (tokentype == JSON_TOKEN_STRING)
				p->aud = lappend(p->aud, token);
			else
				p->aud_bad = true;
		}
	}
	else if (p->depth == 2 && p->in_aud)
	{
		if (tokentype == JSON_TOKEN_STRING)
			p->aud = lappend(p->aud, token);
		else
			p->aud_bad = true;
	}
	JSON_ACTION_RETURN;
}

/*
 * The deepest nesting of arrays and objects in a JSON text, counted outside
 * strings as the lexer sees them; an upper bound of what the parser would
 * recurse into.
 */
static int
json_nesting_depth(const char *json, int len)
{
	int			depth = 0;
	int			deepest = 0;
	bool		in_string = false;
	int			i;

	for (i = 0; i < len; i++)
	{
		char		c = json[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '[' || c == '{')
		{
			if (++depth > deepest)
				deepest = depth;
		}
		else if (c == ']' || c == '}')
			depth--;
	}
	return deepest;
}

/*
 * Parse one JSON object of the token, bounded first; false with *detail set
 * if it is not a well-formed JSON object within the limits.
 */
static bool
parse_claims(char *json, int len, ClaimsParse *out, const char *what,
			 const ClaimPath *user_path, const ClaimPath *tenant_path,
			 const char **detail)
{
	JsonLexContext *lex;
	JsonSemAction sem;

	memset(out, 0, sizeof(*out));
	out->member = CM_OTHER;
	out->path[CP_USER] = user_path;
	out->path[CP_TENANT] = tenant_path;
	if (memchr(json, '\0', len) != NULL)
	{
		*detail = psprintf("The %s contains a zero byte.", what);
		return false;
	}
	if (!pg_verify_mbstr(PG_UTF8, json, len, true))
	{
		*detail = psprintf("The %s is not valid UTF-8.", what);
		return false;
	}
	if (json_nesting_depth(json, len) > TOKEN_MAX_DEPTH)
	{
		*detail = psprintf("The %s nests arrays or objects deeper than %d levels.",
						   what, TOKEN_MAX_DEPTH);
		return false;
	}

	memset(&sem, 0, sizeof(sem));
	sem.semstate = out;
	sem.object_start = claims_object_start;
	sem.object_end = claims_object_end;
	sem.array_start = claims_array_start;
	sem.array_end = claims_array_end;
	sem.object_field_start = claims_field_start;
	sem.scalar = claims_scalar;

	lex = PT_JSON_LEXER(json, len, PG_UTF8);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS || !out->is_object)
	{
		*detail = psprintf("The %s is not a JSON object.", what);
		return false;
	}
	if (out->repeated)
	{
		*detail = psprintf("The %s has a member twice.", what);
		return false;
	}
	return true;
}

static inline int
b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Decode canonical base64url into a palloc'd, NUL-terminated buffer; -1 if
 * it is not: only the url-safe alphabet, no padding, no whitespace, a
 * length that some byte string encodes to, and unused trailing bits zero
 * (so that exactly one text encodes each byte string).
 */
static int
b64url_decode(const char *src, int len, char **dst)
{
	char	   *out;
	uint32		acc = 0;
	int			bits = 0;
	int			n = 0;
	int			i;

	if (len == 0 || len % 4 == 1)
		return -1;
	out = palloc(len * 3 / 4 + 1);
	for (i = 0; i < len; i++)
	{
		int			v = b64url_value(src[i]);

		if (v < 0)
		{
			pfree(out);
			return -1;
		}
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (char) ((acc >> bits) & 0xFF);
		}
	}
	/* Left over: 2 bits (len % 4 == 3) or 4 bits (len % 4 == 2), all zero. */
	if ((acc & ((1U << bits) - 1)) != 0)
	{
		pfree(out);
		return -1;
	}
	out[n] = '\0';
	*dst = out;
	return n;
}

bool
tenancy_parse_uuid(const char *s, int len, pg_uuid_t *out)
{
	int			i;
	int			n = 0;
	uint8		hi = 0;
	bool		have_hi = false;

	/* The canonical 8-4-4-4-12 form only. */
	if (s == NULL || len != 36)
		return false;
	for (i = 0; i < 36; i++)
	{
		char		c = s[i];
		int			v;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (c != '-')
				return false;
			continue;
		}
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			return false;
		if (!have_hi)
		{
			hi = (uint8) v;
			have_hi = true;
		}
		else
		{
			out->data[n++] = (uint8) ((hi << 4) | v);
			have_hi = false;
		}
	}
	return n == UUID_LEN;
}

/* A NumericDate claim (Unix seconds) as a timestamp; false if it is not one. */
static bool
numeric_date(const ClaimsParse *p, ClaimMember m, TimestampTz *out)
{
	char	   *end;
	double		seconds;

	if (p->value[m] == NULL || p->type[m] != JSON_TOKEN_NUMBER)
		return false;
	seconds = strtod(p->value[m], &end);
	if (*end != '\0' || !(seconds > 0 && seconds <= 1.0e11))
		return false;
	*out = (TimestampTz) ((seconds -
						   ((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY))
						  * USECS_PER_SEC);
	return true;
}

static bool
string_claim(const ClaimsParse *p, ClaimMember m)
{
	return p->value[m] != NULL && p->type[m] == JSON_TOKEN_STRING;
}

/*
 * The user, issuer and tenant of parsed claims.  The user is optional here
 * (the caller decides); present means present: a null, number, object or
 * array where the user or the tenant should be is an error, not "none".
 */
static bool
identity_claims(const ClaimsParse *pp, const ClaimPath *user_path,
				const ClaimPath *tenant_path, TokenClaims *claims,
				const char **detail)
{
	claims->subject = NULL;
	claims->issuer = NULL;
	if (pp->path_seen[CP_USER])
	{
		if (pp->path_value[CP_USER] == NULL ||
			pp->path_type[CP_USER] != JSON_TOKEN_STRING ||
			pp->path_value[CP_USER][0] == '\0' ||
			strlen(pp->path_value[CP_USER]) > 255)
		{
			*detail = psprintf("The claim \"%s\" must be a string of 1 to 255 bytes.",
							   user_path->text);
			return false;
		}
		claims->subject = pp->path_value[CP_USER];
	}
	if (pp->seen[CM_ISS])
	{
		if (!string_claim(pp, CM_ISS))
		{
			*detail = "The claim \"iss\" must be a string.";
			return false;
		}
		claims->issuer = pp->value[CM_ISS];
	}
	claims->has_tenant = pp->path_seen[CP_TENANT];
	if (claims->has_tenant &&
		(pp->path_value[CP_TENANT] == NULL ||
		 pp->path_type[CP_TENANT] != JSON_TOKEN_STRING ||
		 !tenancy_parse_uuid(pp->path_value[CP_TENANT],
							 strlen(pp->path_value[CP_TENANT]), &claims->tenant)))
	{
		*detail = psprintf("The claim \"%s\" must be a tenant's uuid.",
						   tenant_path->text);
		return false;
	}
	return true;
}

/* The checks, in a memory context of their own; see tenancy_token_verify. */
static bool
verify_token_in_context(const char *token, TimestampTz now,
						const ClaimPath *user_path, const ClaimPath *tenant_path,
						TokenClaims *claims, const char **detail)
{
	size_t		toklen = strlen(token);
	const char *dot1;
	const char *dot2;
	char	   *header;
	char	   *payload;
	char	   *signature;
	int			hlen;
	int			plen;
	int			slen;
	ClaimsParse hp;
	ClaimsParse pp;
	SigningKey	key;
	const char *alg;
	const char *kid;
	TimestampTz nbf;

	if (toklen > TOKEN_MAX_LENGTH)
	{
		*detail = "A token is at most 8192 bytes long.";
		return false;
	}
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
	{
		*detail = "A token has three dot-separated parts.";
		return false;
	}
	hlen = b64url_decode(token, dot1 - token, &header);
	plen = hlen < 0 ? -1 : b64url_decode(dot1 + 1, dot2 - dot1 - 1, &payload);
	slen = plen < 0 ? -1 : b64url_decode(dot2 + 1, strlen(dot2 + 1), &signature);
	if (slen < 0)
	{
		*detail = "A part of the token is not canonical unpadded base64url.";
		return false;
	}

	/* The header chooses the key; the algorithm must be the key's. */
	if (!parse_claims(header, hlen, &hp, "token header", NULL, NULL, detail))
		return false;
	if (!string_claim(&hp, CM_ALG) || !tenancy_alg_is_supported(hp.value[CM_ALG]))
	{
		*detail = "The token header must name the algorithm HS256, RS256, ES256 or EdDSA.";
		return false;
	}
	alg = hp.value[CM_ALG];
	if (hp.seen[CM_KID] && !string_claim(&hp, CM_KID))
	{
		*detail = "The token header's \"kid\" must be a string.";
		return false;
	}
	kid = hp.value[CM_KID];
	if (!tenancy_signing_key_find(kid, alg, &key, detail))
		return false;
	if (!tenancy_signature_verify(&key, (const uint8 *) token, dot2 - token,
								  (const uint8 *) signature, slen, detail))
		return false;

	/* Signed by the key: now the claims. */
	if (!parse_claims(payload, plen, &pp, "token payload", user_path, tenant_path, detail))
		return false;
	if (!identity_claims(&pp, user_path, tenant_path, claims, detail))
		return false;
	if (claims->subject == NULL)
	{
		*detail = psprintf("The token has no claim \"%s\", which names the user.",
						   user_path->text);
		return false;
	}
	if (!numeric_date(&pp, CM_EXP, &claims->exp))
	{
		*detail = "The claim \"exp\" must be a number of seconds since 1970.";
		return false;
	}
	if (claims->exp <= now)
	{
		*detail = "The token has expired.";
		return false;
	}
	if (pp.seen[CM_NBF])
	{
		if (!numeric_date(&pp, CM_NBF, &nbf))
		{
			*detail = "The claim \"nbf\" must be a number of seconds since 1970.";
			return false;
		}
		if (nbf > now)
		{
			*detail = "The token is not valid yet.";
			return false;
		}
	}
	if (key.issuer != NULL &&
		(!string_claim(&pp, CM_ISS) || strcmp(pp.value[CM_ISS], key.issuer) != 0))
	{
		*detail = "The claim \"iss\" does not name the issuer of the signing key.";
		return false;
	}
	if (key.audience != NULL)
	{
		ListCell   *lc;
		bool		found = false;

		if (!pp.aud_bad)
		{
			foreach(lc, pp.aud)
			{
				if (strcmp((char *) lfirst(lc), key.audience) == 0)
					found = true;
			}
		}
		if (!found)
		{
			*detail = "The claim \"aud\" does not name the audience of the signing key.";
			return false;
		}
	}
	return true;
}

/* What a reader of claims is given: a token, or a gateway's JSON. */
typedef struct ClaimsInput
{
	const char *text;
	TimestampTz now;			/* tokens only */
	const ClaimPath *user_path;
	const ClaimPath *tenant_path;
} ClaimsInput;

typedef bool (*ClaimsReader) (const ClaimsInput *in, TokenClaims *claims,
							  const char **detail);

/*
 * Run a reader in a memory context of its own: everything decoded and read
 * is scratch, dropped in one go.  What outlives it is copied out: the
 * detail sentence on failure (the readers give static strings or scratch
 * ones), the subject and issuer on success.
 */
static bool
read_claims(ClaimsReader reader, const ClaimsInput *in, TokenClaims *claims,
			const char **detail)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext work = AllocSetContextCreate(caller, "pg_tenancy claims",
											   ALLOCSET_SMALL_SIZES);
	TokenClaims result;
	bool		ok;

	MemoryContextSwitchTo(work);
	memset(&result, 0, sizeof(result));
	result.exp = DT_NOEND;
	ok = reader(in, &result, detail);
	MemoryContextSwitchTo(caller);
	if (!ok)
		*detail = pstrdup(*detail);
	else
	{
		if (result.subject != NULL)
			result.subject = pstrdup(result.subject);
		if (result.issuer != NULL)
			result.issuer = pstrdup(result.issuer);
	}
	MemoryContextDelete(work);
	if (ok)
		*claims = result;
	return ok;
}

static bool
token_reader(const ClaimsInput *in, TokenClaims *claims, const char **detail)
{
	return verify_token_in_context(in->text, in->now, in->user_path,
								   in->tenant_path, claims, detail);
}

bool
tenancy_token_verify(const char *token, TimestampTz now,
					 const ClaimPath *user_path, const ClaimPath *tenant_path,
					 TokenClaims *claims, const char **detail)
{
	ClaimsInput in = {token, now, user_path, tenant_path};

	return read_claims(token_reader, &in, claims, detail);
}

/*
 * Claims a gateway verified (tenancy.claims_setting): a JSON object, read
 * with the same limits and paths as a token's payload.  No signature, no
 * "exp": the gateway checked those.  claims->subject is NULL for a request
 * without a user (an anonymous one).
 */
static bool
gateway_reader(const ClaimsInput *in, TokenClaims *claims, const char **detail)
{
	size_t		len = strlen(in->text);
	ClaimsParse pp;

	if (len > TOKEN_MAX_LENGTH)
	{
		*detail = "The claims are at most 8192 bytes long.";
		return false;
	}
	return parse_claims(pstrdup(in->text), len, &pp, "claims text",
						in->user_path, in->tenant_path, detail) &&
		identity_claims(&pp, in->user_path, in->tenant_path, claims, detail);
}

bool
tenancy_claims_parse(const char *json, const ClaimPath *user_path,
					 const ClaimPath *tenant_path, TokenClaims *claims,
					 const char **detail)
{
	ClaimsInput in = {json, 0, user_path, tenant_path};

	return read_claims(gateway_reader, &in, claims, detail);
}

/*
 * Parse a claim path setting: member names separated by dots, e.g. "sub" or
 * "app_metadata.tenant_id".  False if it is not one.
 */
bool
tenancy_claim_path_parse(const char *text, ClaimPath *out)
{
	const char *p = text;

	memset(out, 0, sizeof(*out));
	if (strlen(text) >= sizeof(out->text))
		return false;
	strlcpy(out->text, text, sizeof(out->text));
	for (;;)
	{
		const char *dot = strchr(p, '.');
		size_t		len = dot ? (size_t) (dot - p) : strlen(p);

		if (len == 0 || len >= sizeof(out->names[0]) || out->n == CLAIM_PATH_MAX)
			return false;
		memcpy(out->names[out->n], p, len);
		out->names[out->n][len] = '\0';
		out->n++;
		if (dot == NULL)
			return true;
		p = dot + 1;
	}
}

/*
 * The user that claims name: the user whose external subject (at the
 * claims' issuer) this is, or else the user with this uuid, unless an
 * identity provider names that user (then only that provider's subject
 * does: a token of another issuer cannot reach them by uuid).  Reads
 * tenancy.users; false if the subject names no one.
 */
bool
tenancy_claims_user(const TokenClaims *claims, pg_uuid_t *user)
{
	if (tenancy_user_by_subject(claims->subject, claims->issuer, user))
		return true;
	return tenancy_parse_uuid(claims->subject, strlen(claims->subject), user) &&
		!tenancy_user_has_external_identity(user);
}

PG_FUNCTION_INFO_V1(tenancy_verify_token);

/*
 * tenancy.verify_token(token text, OUT user_id uuid, OUT tenant_id uuid,
 * OUT expires_at timestamptz): what the context would take from the token,
 * checked exactly as tenancy.context's check hook does, or the error that
 * hook would raise.  For operators, and for the fuzzer.
 */
Datum
tenancy_verify_token(PG_FUNCTION_ARGS)
{
	char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TokenClaims claims;
	const char *detail;
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	pg_uuid_t  *user;
	pg_uuid_t  *tenant;
	pg_uuid_t	subject_user;

	if (!tenancy_token_verify(token, GetCurrentTimestamp(),
							  tenancy_user_claim_path(), tenancy_tenant_claim_path(),
							  &claims, &detail))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid context token"),
				 errdetail("%s", detail)));
	if (!tenancy_claims_user(&claims, &subject_user))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid context token"),
				 errdetail("%s", tenancy_unknown_subject_detail())));

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);

	user = palloc(sizeof(pg_uuid_t));
	*user = subject_user;
	values[0] = UUIDPGetDatum(user);
	if (claims.has_tenant)
	{
		tenant = palloc(sizeof(pg_uuid_t));
		*tenant = claims.tenant;
		values[1] = UUIDPGetDatum(tenant);
	}
	else
		nulls[1] = true;
	values[2] = TimestampTzGetDatum(claims.exp);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* Invitation tokens ---------------------------------------------------------- */

#define INVITATION_TOKEN_BYTES	32

PG_FUNCTION_INFO_V1(tenancy_new_token);

/*
 * tenancy._new_token() returns text: 256 bits from the server's strong
 * random source, in unpadded base64url (43 characters).  Only its SHA-256
 * is stored; the token itself is shown once.
 */
Datum
tenancy_new_token(PG_FUNCTION_ARGS)
{
	uint8		bytes[INVITATION_TOKEN_BYTES];
	int			enclen = pg_b64_enc_len(INVITATION_TOKEN_BYTES);
	char	   *out = palloc(enclen + 1);
	int			len;
	int			i;

	if (!pg_strong_random(bytes, sizeof(bytes)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random invitation token")));
	len = pg_b64_encode((const char *) bytes, sizeof(bytes), out, enclen);
	if (len < 0)
		elog(ERROR, "could not encode an invitation token");
	while (len > 0 && out[len - 1] == '=')
		len--;
	for (i = 0; i < len; i++)
	{
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out, len));
}
