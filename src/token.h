/*
 * token.h
 *		Signed context tokens: compact JWTs (HS256, RS256, ES256 or EdDSA,
 *		with keys from tenancy.signing_keys) carrying a user and an
 *		optional tenant; and the claims of gateways that verified their own.
 */
#ifndef PG_TENANCY_TOKEN_H
#define PG_TENANCY_TOKEN_H

#include "postgres.h"
#include "datatype/timestamp.h"
#include "utils/uuid.h"

/*
 * A path to a claim: member names from the top-level object down, as the
 * settings tenancy.user_claim and tenancy.tenant_claim give it ("sub",
 * "app_metadata.tenant_id").
 */
#define CLAIM_PATH_MAX	8
typedef struct ClaimPath
{
	int			n;
	char		names[CLAIM_PATH_MAX][64];
	char		text[256];		/* as set, for messages */
} ClaimPath;

typedef struct TokenClaims
{
	char	   *subject;		/* the user claim; NULL if none */
	char	   *issuer;			/* "iss", or NULL */
	pg_uuid_t	tenant;			/* the tenant claim, when has_tenant */
	bool		has_tenant;
	TimestampTz exp;			/* "exp", converted from Unix seconds */
} TokenClaims;

/*
 * Verify a token with the signing key it names and decode its claims, the
 * user and tenant at the paths given.  Returns false with *detail set to a
 * sentence saying what is wrong (malformed or over a limit, unknown key or
 * algorithm, bad signature, missing or bad claims, expired, not yet valid,
 * wrong issuer or audience); raises nothing but out of memory, so that it
 * can run inside a GUC check hook.  Must be called inside a transaction (it
 * reads tenancy.signing_keys).  The user is not looked up: see
 * tenancy_claims_user.
 */
extern bool tenancy_token_verify(const char *token, TimestampTz now,
								 const ClaimPath *user_path,
								 const ClaimPath *tenant_path,
								 TokenClaims *claims, const char **detail);

/*
 * The same for claims a gateway verified: a JSON object, read with the
 * same limits; no signature or expiry.  claims->subject is NULL when the
 * claims name no user.  Raises nothing but out of memory.
 */
extern bool tenancy_claims_parse(const char *json, const ClaimPath *user_path,
								 const ClaimPath *tenant_path,
								 TokenClaims *claims, const char **detail);

/* Parse a claim path ("a.b.c"); false if it is not one. */
extern bool tenancy_claim_path_parse(const char *text, ClaimPath *out);

/*
 * The user claims name: by external subject at their issuer, else by uuid.
 * Reads tenancy.users (and may raise as any read does).
 */
extern bool tenancy_claims_user(const TokenClaims *claims, pg_uuid_t *user);

/* A uuid in its canonical text form (36 characters); raises nothing. */
extern bool tenancy_parse_uuid(const char *s, int len, pg_uuid_t *out);

#endif							/* PG_TENANCY_TOKEN_H */
