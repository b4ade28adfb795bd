/*
 * token.c
 *		Verification of signed context tokens.
 *
 * A token is a compact JWT: base64url(header) "." base64url(payload) "."
 * base64url(signature), where the signature is HMAC-SHA-256 of the first two
 * parts under the secret tenancy.context_secret.  The header must say
 * {"alg":"HS256"} (a token that names another algorithm, "none" included, is
 * refused); the payload carries "sub" (the user's uuid), optionally
 * "tenant" (a tenant's uuid) and "exp" (Unix seconds; required).
 *
 * Everything here reports failure by return value, never by ereport, so that
 * it can run inside the GUC check hook that establishes the context.  The
 * HMAC and base64 are PostgreSQL's own (src/common); JSON is read with the
 * server's non-throwing JSON parser.
 */
#include "postgres.h"

#include "common/base64.h"
#include "common/hmac.h"
#include "common/jsonapi.h"
#include "common/sha2.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "token.h"

/* What the JSON walk collects: top-level string and number members only. */
typedef struct ClaimsParse
{
	int			depth;
	const char *field;			/* top-level member being read, or NULL */
	char	   *alg;
	char	   *sub;
	char	   *tenant;
	char	   *exp;
	bool		exp_is_number;
} ClaimsParse;

static JSON_ACTION_RESULT
claims_object_start(void *state)
{
	((ClaimsParse *) state)->depth++;
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
	((ClaimsParse *) state)->depth++;
	JSON_ACTION_RETURN;
}

static JSON_ACTION_RESULT
claims_array_end(void *state)
{
	((ClaimsParse *) state)->depth--;
	JSON_ACTION_RETURN;
}

static JSON_ACTION_RESULT
claims_field_start(void *state, char *fname, bool isnull)
{
	ClaimsParse *p = state;

	p->field = (p->depth == 1) ? fname : NULL;
	JSON_ACTION_RETURN;
}

static JSON_ACTION_RESULT
claims_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ClaimsParse *p = state;

	if (p->depth != 1 || p->field == NULL)
		JSON_ACTION_RETURN;
	if (strcmp(p->field, "alg") == 0 && tokentype == JSON_TOKEN_STRING)
		p->alg = token;
	else if (strcmp(p->field, "sub") == 0 && tokentype == JSON_TOKEN_STRING)
		p->sub = token;
	else if (strcmp(p->field, "tenant") == 0 && tokentype == JSON_TOKEN_STRING)
		p->tenant = token;
	else if (strcmp(p->field, "exp") == 0)
	{
		p->exp = token;
		p->exp_is_number = (tokentype == JSON_TOKEN_NUMBER);
	}
	p->field = NULL;
	JSON_ACTION_RETURN;
}

/* Parse one JSON object; false if it is not well-formed JSON. */
static bool
parse_claims(char *json, int len, ClaimsParse *out)
{
	JsonLexContext *lex;
	JsonSemAction sem;

	memset(out, 0, sizeof(*out));
	memset(&sem, 0, sizeof(sem));
	sem.semstate = out;
	sem.object_start = claims_object_start;
	sem.object_end = claims_object_end;
	sem.array_start = claims_array_start;
	sem.array_end = claims_array_end;
	sem.object_field_start = claims_field_start;
	sem.scalar = claims_scalar;

	lex = PT_JSON_LEXER(json, len, GetDatabaseEncoding());
	return pg_parse_json(lex, &sem) == JSON_SUCCESS;
}

/* Decode base64url (no padding) into a palloc'd buffer; -1 if invalid. */
static int
b64url_decode(const char *src, int len, char **dst)
{
	int			padded = len + (4 - len % 4) % 4;
	char	   *std;
	int			i;
	int			outlen;

	if (len == 0 || len % 4 == 1)
		return -1;
	std = palloc(padded + 1);
	for (i = 0; i < len; i++)
	{
		char		c = src[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' || c == '=')
			return -1;			/* not the url-safe alphabet */
		std[i] = c;
	}
	for (; i < padded; i++)
		std[i] = '=';
	std[padded] = '\0';

	*dst = palloc(pg_b64_dec_len(padded) + 1);
	outlen = pg_b64_decode(std, padded, *dst, pg_b64_dec_len(padded));
	if (outlen >= 0)
		(*dst)[outlen] = '\0';
	return outlen;
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

/* Compare without an early exit, so timing says nothing of the secret. */
static bool
equal_in_constant_time(const uint8 *a, const uint8 *b, int len)
{
	uint8		diff = 0;
	int			i;

	for (i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

bool
tenancy_token_verify(const char *token, const char *secret, TimestampTz now,
					 TokenClaims *claims, const char **detail)
{
	const char *dot1;
	const char *dot2;
	char	   *header;
	char	   *payload;
	char	   *signature;
	int			hlen;
	int			plen;
	int			slen;
	uint8		expected[PG_SHA256_DIGEST_LENGTH];
	pg_hmac_ctx *hmac;
	ClaimsParse hp;
	ClaimsParse pp;
	char	   *end;
	double		exp_seconds;

	if (secret == NULL || secret[0] == '\0')
	{
		*detail = "No secret is configured in tenancy.context_secret.";
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
	plen = b64url_decode(dot1 + 1, dot2 - dot1 - 1, &payload);
	slen = b64url_decode(dot2 + 1, strlen(dot2 + 1), &signature);
	if (hlen < 0 || plen < 0 || slen < 0)
	{
		*detail = "A part of the token is not base64url.";
		return false;
	}

	/* The algorithm is checked before the signature, and only HS256 passes. */
	if (!parse_claims(header, hlen, &hp) || hp.alg == NULL ||
		strcmp(hp.alg, "HS256") != 0)
	{
		*detail = "The token header must name the algorithm HS256.";
		return false;
	}

	hmac = pg_hmac_create(PG_SHA256);
	if (hmac == NULL ||
		pg_hmac_init(hmac, (const uint8 *) secret, strlen(secret)) < 0 ||
		pg_hmac_update(hmac, (const uint8 *) token, dot2 - token) < 0 ||
		pg_hmac_final(hmac, expected, sizeof(expected)) < 0)
	{
		pg_hmac_free(hmac);
		*detail = "The signature could not be computed.";
		return false;
	}
	pg_hmac_free(hmac);
	if (slen != PG_SHA256_DIGEST_LENGTH ||
		!equal_in_constant_time((uint8 *) signature, expected, slen))
	{
		*detail = "The signature does not match.";
		return false;
	}

	if (!parse_claims(payload, plen, &pp))
	{
		*detail = "The token payload is not a JSON object.";
		return false;
	}
	if (pp.sub == NULL || !tenancy_parse_uuid(pp.sub, strlen(pp.sub), &claims->sub))
	{
		*detail = "The claim \"sub\" must be a user's uuid.";
		return false;
	}
	claims->has_tenant = (pp.tenant != NULL);
	if (claims->has_tenant &&
		!tenancy_parse_uuid(pp.tenant, strlen(pp.tenant), &claims->tenant))
	{
		*detail = "The claim \"tenant\" must be a tenant's uuid.";
		return false;
	}
	if (pp.exp == NULL || !pp.exp_is_number)
	{
		*detail = "The claim \"exp\" must be a number of seconds since 1970.";
		return false;
	}
	exp_seconds = strtod(pp.exp, &end);
	if (*end != '\0' || exp_seconds <= 0 || exp_seconds > 1.0e11)
	{
		*detail = "The claim \"exp\" must be a number of seconds since 1970.";
		return false;
	}
	claims->exp = (TimestampTz) ((exp_seconds -
								  ((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY))
								 * USECS_PER_SEC);
	if (claims->exp <= now)
	{
		*detail = "The token has expired.";
		return false;
	}
	return true;
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
