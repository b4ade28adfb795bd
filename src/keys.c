/*
 * keys.c
 *		The keys that sign context tokens, and the signature checks.
 *
 * Keys live in the table tenancy.signing_keys, which no role but the
 * extension's owner can read: a setting would be readable by any role
 * before the library is loaded in its backend (PostgreSQL keeps it as an
 * unprotected placeholder until then), and by every role through
 * pg_db_role_setting when set per database or role.  The verifier reads
 * the table directly (a heap scan under the transaction's snapshot, no SPI
 * and no permission check), because it runs inside the check hook of
 * tenancy.context, as the application role.
 *
 * HS256 keys are shared secrets, checked with PostgreSQL's own HMAC.  The
 * others are public keys in PEM, checked with OpenSSL's libcrypto: RS256
 * (RSASSA-PKCS1-v1_5 with SHA-256, at least 2048 bits), ES256 (ECDSA on
 * P-256 with SHA-256) and EdDSA (Ed25519).  A public key is parsed again
 * at each use; there are few keys and a context is set once a transaction.
 *
 * Nothing on the verifying side raises an error but running out of memory:
 * OpenSSL's failures are reported by return value, and its error queue,
 * which the server's SSL code reads too, is cleared after every call.
 */
#include "postgres.h"

#include <openssl/bn.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "keys.h"

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "pg_tenancy requires OpenSSL 3.0 or later"
#endif

/* The columns read, in the order of the install script. */
static const char *const key_columns[] = {
	"kid", "alg", "key", "issuer", "audience"
};

#define KEY_NCOLUMNS	lengthof(key_columns)
#define ES256_SIG_LEN	64
#define HS256_MIN_SECRET	32
#define RS256_MIN_BITS	2048

bool
tenancy_alg_is_supported(const char *alg)
{
	return strcmp(alg, "HS256") == 0 || strcmp(alg, "RS256") == 0 ||
		strcmp(alg, "ES256") == 0 || strcmp(alg, "EdDSA") == 0;
}

/* Reading the table -------------------------------------------------------- */

/* Is the table there, a table, with the columns we read where we read them? */
static Relation
open_signing_keys(void)
{
	Oid			nsp;
	Oid			relid;
	Relation	rel;
	TupleDesc	desc;
	int			i;

	nsp = get_namespace_oid("tenancy", true);
	if (!OidIsValid(nsp))
		return NULL;
	relid = get_relname_relid("signing_keys", nsp);
	if (!OidIsValid(relid))
		return NULL;
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		return NULL;
	desc = RelationGetDescr(rel);
	if (rel->rd_rel->relkind != RELKIND_RELATION || desc->natts < KEY_NCOLUMNS)
	{
		relation_close(rel, AccessShareLock);
		return NULL;
	}
	for (i = 0; i < KEY_NCOLUMNS; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != TEXTOID ||
			strcmp(NameStr(att->attname), key_columns[i]) != 0)
		{
			relation_close(rel, AccessShareLock);
			return NULL;
		}
	}
	return rel;
}

static char *
column_string(HeapTuple tup, TupleDesc desc, int attno)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, attno, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

bool
tenancy_signing_key_find(const char *kid, const char *alg,
						 SigningKey *key, const char **detail)
{
	Relation	rel;
	TupleDesc	desc;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		pushed = false;
	int			found = 0;

	memset(key, 0, sizeof(*key));
	if (!IsTransactionState())
	{
		*detail = "Signing keys can only be read inside a transaction.";
		return false;
	}
	rel = open_signing_keys();
	if (rel == NULL)
	{
		*detail = "No signing key is configured.";
		return false;
	}
	desc = RelationGetDescr(rel);

	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		pushed = true;
	}
	scan = systable_beginscan(rel, InvalidOid, false, GetActiveSnapshot(),
							  0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		char	   *row_kid = column_string(tup, desc, 1);
		char	   *row_alg = column_string(tup, desc, 2);

		if (row_kid == NULL || row_alg == NULL)
			continue;
		if (kid != NULL ? strcmp(row_kid, kid) != 0 : strcmp(row_alg, alg) != 0)
			continue;
		if (found++ == 0)
		{
			key->kid = row_kid;
			key->alg = row_alg;
			key->key = column_string(tup, desc, 3);
			key->issuer = column_string(tup, desc, 4);
			key->audience = column_string(tup, desc, 5);
		}
	}
	systable_endscan(scan);
	if (pushed)
		PopActiveSnapshot();
	/* The lock is kept to the end of the transaction, as a query's is. */
	relation_close(rel, NoLock);

	if (found == 0)
	{
		*detail = kid != NULL ?
			"No signing key has the key id the token names." :
			"No signing key has the algorithm the token names.";
		return false;
	}
	if (kid == NULL && found > 1)
	{
		*detail = "The token names no key id, and more than one signing key has its algorithm.";
		return false;
	}
	if (key->key == NULL || strcmp(key->alg, alg) != 0)
	{
		*detail = "The token's algorithm is not the algorithm of its signing key.";
		return false;
	}
	return true;
}

/* Public keys --------------------------------------------------------------- */

/* PEM files with a passphrase are refused, never prompted for. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

/*
 * Parse a PEM public key and check it is of the kind the algorithm needs.
 * Returns NULL with *problem set (a sentence) when it is not.
 */
static EVP_PKEY *
load_public_key(const char *alg, const char *pem, const char **problem)
{
	BIO		   *bio;
	EVP_PKEY   *pkey;
	bool		fits = false;

	bio = BIO_new_mem_buf(pem, -1);
	if (bio == NULL)
	{
		ERR_clear_error();
		*problem = "The key could not be read.";
		return NULL;
	}
	pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (pkey == NULL)
	{
		ERR_clear_error();
		*problem = "The key is not a PEM \"PUBLIC KEY\".";
		return NULL;
	}

	if (strcmp(alg, "RS256") == 0)
	{
		if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
			*problem = "An RS256 key is an RSA public key.";
		else if (EVP_PKEY_get_bits(pkey) < RS256_MIN_BITS)
			*problem = "An RS256 key has at least 2048 bits.";
		else
			fits = true;
	}
	else if (strcmp(alg, "ES256") == 0)
	{
		char		curve[80];
		size_t		curvelen;

		if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC &&
			EVP_PKEY_get_group_name(pkey, curve, sizeof(curve), &curvelen) == 1 &&
			OBJ_txt2nid(curve) == NID_X9_62_prime256v1)
			fits = true;
		else
			*problem = "An ES256 key is an elliptic-curve public key on P-256.";
	}
	else if (strcmp(alg, "EdDSA") == 0)
	{
		if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519)
			fits = true;
		else
			*problem = "An EdDSA key is an Ed25519 public key.";
	}
	else
		*problem = "Only RS256, ES256 and EdDSA keys are public keys.";

	ERR_clear_error();
	if (!fits)
	{
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

/*
 * A JWS ES256 signature is r and s, 32 bytes each, big-endian; OpenSSL
 * wants the DER encoding of ECDSA-Sig-Value.  Returns the length of the
 * OPENSSL_malloc'd *der, or 0.
 */
static int
es256_signature_to_der(const uint8 *sig, unsigned char **der)
{
	ECDSA_SIG  *es;
	BIGNUM	   *r;
	BIGNUM	   *s;
	int			len = 0;

	*der = NULL;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, ES256_SIG_LEN / 2, NULL);
	s = BN_bin2bn(sig + ES256_SIG_LEN / 2, ES256_SIG_LEN / 2, NULL);
	if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1)
	{
		r = s = NULL;			/* es owns them now */
		len = i2d_ECDSA_SIG(es, der);
		if (len <= 0)
		{
			len = 0;
			*der = NULL;
		}
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	ERR_clear_error();
	return len;
}

static bool
verify_public(const SigningKey *key, const uint8 *msg, size_t msglen,
			  const uint8 *sig, size_t siglen, const char **detail)
{
	EVP_PKEY   *pkey;
	EVP_MD_CTX *mdctx;
	unsigned char *der = NULL;
	const EVP_MD *md;
	const char *problem;
	bool		ok = false;

	pkey = load_public_key(key->alg, key->key, &problem);
	if (pkey == NULL)
	{
		*detail = "The signing key the token names is not a usable public key.";
		return false;
	}

	if (strcmp(key->alg, "ES256") == 0)
	{
		int			derlen;

		if (siglen != ES256_SIG_LEN)
		{
			EVP_PKEY_free(pkey);
			*detail = "An ES256 signature is 64 bytes long.";
			return false;
		}
		derlen = es256_signature_to_der(sig, &der);
		if (derlen == 0)
		{
			EVP_PKEY_free(pkey);
			*detail = "The signature could not be checked.";
			return false;
		}
		sig = der;
		siglen = derlen;
	}

	/* Ed25519 hashes by itself: no digest is named. */
	md = strcmp(key->alg, "EdDSA") == 0 ? NULL : EVP_sha256();
	mdctx = EVP_MD_CTX_new();
	if (mdctx != NULL &&
		EVP_DigestVerifyInit(mdctx, NULL, md, NULL, pkey) == 1 &&
		EVP_DigestVerify(mdctx, sig, siglen, msg, msglen) == 1)
		ok = true;
	EVP_MD_CTX_free(mdctx);
	EVP_PKEY_free(pkey);
	OPENSSL_free(der);
	ERR_clear_error();

	if (!ok)
		*detail = "The signature does not match.";
	return ok;
}

/* Compare without an early exit, so timing says nothing of the secret. */
static bool
equal_in_constant_time(const uint8 *a, const uint8 *b, size_t len)
{
	uint8		diff = 0;
	size_t		i;

	for (i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

static bool
verify_hmac(const SigningKey *key, const uint8 *msg, size_t msglen,
			const uint8 *sig, size_t siglen, const char **detail)
{
	uint8		expected[PG_SHA256_DIGEST_LENGTH];
	pg_hmac_ctx *hmac;

	hmac = pg_hmac_create(PG_SHA256);
	if (hmac == NULL ||
		pg_hmac_init(hmac, (const uint8 *) key->key, strlen(key->key)) < 0 ||
		pg_hmac_update(hmac, msg, msglen) < 0 ||
		pg_hmac_final(hmac, expected, sizeof(expected)) < 0)
	{
		pg_hmac_free(hmac);
		*detail = "The signature could not be computed.";
		return false;
	}
	pg_hmac_free(hmac);
	if (siglen != PG_SHA256_DIGEST_LENGTH ||
		!equal_in_constant_time(sig, expected, siglen))
	{
		*detail = "The signature does not match.";
		return false;
	}
	return true;
}

bool
tenancy_signature_verify(const SigningKey *key,
						 const uint8 *msg, size_t msglen,
						 const uint8 *sig, size_t siglen,
						 const char **detail)
{
	if (strcmp(key->alg, "HS256") == 0)
		return verify_hmac(key, msg, msglen, sig, siglen, detail);
	return verify_public(key, msg, msglen, sig, siglen, detail);
}

/* SQL-callable ------------------------------------------------------------ */

PG_FUNCTION_INFO_V1(tenancy_signing_key_check);

/*
 * tenancy._signing_key_check(alg text, key text): raises unless the key
 * can sign tokens of the algorithm.  Called by the table's trigger, so
 * that every way a key gets in (add_signing_key, INSERT, a restored dump)
 * is checked.
 */
Datum
tenancy_signing_key_check(PG_FUNCTION_ARGS)
{
	char	   *alg = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *keytext = PG_GETARG_TEXT_PP(1);

	if (!tenancy_alg_is_supported(alg))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported signing algorithm \"%s\"", alg),
				 errdetail("A signing key's algorithm is HS256, RS256, ES256 or EdDSA.")));

	if (strcmp(alg, "HS256") == 0)
	{
		if (VARSIZE_ANY_EXHDR(keytext) < HS256_MIN_SECRET)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("signing secret is too short"),
					 errdetail("An HS256 secret has at least %d bytes.",
							   HS256_MIN_SECRET)));
	}
	else
	{
		const char *problem;
		EVP_PKEY   *pkey = load_public_key(alg, text_to_cstring(keytext),
										   &problem);

		if (pkey == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid public key for %s", alg),
					 errdetail("%s", problem)));
		EVP_PKEY_free(pkey);
	}
	PG_RETURN_VOID();
}
