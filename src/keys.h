/*
 * keys.h
 *		The keys that sign context tokens, kept in tenancy.signing_keys, and
 *		the signature checks made with them.
 */
#ifndef PG_TENANCY_KEYS_H
#define PG_TENANCY_KEYS_H

#include "postgres.h"

/* One row of tenancy.signing_keys, copied out of the table. */
typedef struct SigningKey
{
	char	   *kid;
	char	   *alg;			/* "HS256", "RS256", "ES256" or "EdDSA" */
	char	   *key;			/* HS256: the secret; others: PEM public key */
	char	   *issuer;			/* NULL: "iss" is not checked */
	char	   *audience;		/* NULL: "aud" is not checked */
} SigningKey;

/* Is this one of the algorithms a key may have? */
extern bool tenancy_alg_is_supported(const char *alg);

/*
 * Find the key for a token: by kid when the token names one (its algorithm
 * must then be alg), else the only key of algorithm alg.  The strings are
 * palloc'd in the current memory context.  Raises nothing but out of
 * memory; returns false with *detail set when no key fits.
 */
extern bool tenancy_signing_key_find(const char *kid, const char *alg,
									 SigningKey *key, const char **detail);

/*
 * Check a signature over msg with the key.  Raises nothing but out of
 * memory; returns false with *detail set when it does not match.
 */
extern bool tenancy_signature_verify(const SigningKey *key,
									 const uint8 *msg, size_t msglen,
									 const uint8 *sig, size_t siglen,
									 const char **detail);

#endif							/* PG_TENANCY_KEYS_H */
