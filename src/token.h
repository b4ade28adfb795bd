/*
 * token.h
 *		Signed context tokens: compact JWTs (HS256) carrying a user and an
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
 * Verify a token against the secret and decode its claims.  Returns false
 * with *detail set to a sentence saying what is wrong (malformed, wrong
 * algorithm, bad signature, missing or bad claims, expired); raises
 * nothing, so that it can run inside a GUC check hook.
 */
extern bool tenancy_token_verify(const char *token, const char *secret,
								 TimestampTz now, TokenClaims *claims,
								 const char **detail);

/* A uuid in its canonical text form (36 characters); raises nothing. */
extern bool tenancy_parse_uuid(const char *s, int len, pg_uuid_t *out);

#endif							/* PG_TENANCY_TOKEN_H */
