/*
 * token.h
 *		Signed context tokens: compact JWTs (HS256, RS256, ES256 or EdDSA,
 *		with keys from tenancy.signing_keys) carrying a user and an
 *		optional tenant.
 */
#ifndef PG_TENANCY_TOKEN_H
#define PG_TENANCY_TOKEN_H

#include "postgres.h"
#include "datatype/timestamp.h"
#include "utils/uuid.h"

typedef struct TokenClaims
{
	pg_uuid_t	sub;			/* "sub": the user */
	pg_uuid_t	tenant;			/* "tenant", when has_tenant */
	bool		has_tenant;
	TimestampTz exp;			/* "exp", converted from Unix seconds */
} TokenClaims;

/*
 * Verify a token with the signing key it names and decode its claims.
 * Returns false with *detail set to a sentence saying what is wrong
 * (malformed or over a limit, unknown key or algorithm, bad signature,
 * missing or bad claims, expired, not yet valid, wrong issuer or
 * audience); raises nothing but out of memory, so that it can run inside a
 * GUC check hook.  Must be called inside a transaction (it reads
 * tenancy.signing_keys).
 */
extern bool tenancy_token_verify(const char *token, TimestampTz now,
								 TokenClaims *claims, const char **detail);

/* A uuid in its canonical text form (36 characters); raises nothing. */
extern bool tenancy_parse_uuid(const char *s, int len, pg_uuid_t *out);

#endif							/* PG_TENANCY_TOKEN_H */
