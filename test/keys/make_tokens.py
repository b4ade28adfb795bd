#!/usr/bin/env python3
"""Sign the test tokens of sql/signed_keys.sql and test/fuzz (test keys only).

Writes tokens.txt beside this file: one "name<TAB>token" a line.
"""
import base64
import json
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
SUB = "11111111-1111-4111-8111-111111111111"
TENANT = "22222222-2222-4222-8222-222222222222"
EXP = 4102444800            # 2100-01-01


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def private(name):
    with open(os.path.join(HERE, name + ".key"), "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def sign(alg, keyname, header, payload, der_es256=False):
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(payload, separators=(",", ":")).encode())
    msg = (h + "." + p).encode()
    key = private(keyname)
    if alg == "RS256":
        sig = key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        der = key.sign(msg, ec.ECDSA(hashes.SHA256()))
        if der_es256:
            sig = der
        else:
            r, s = decode_dss_signature(der)
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        sig = key.sign(msg)
    return h + "." + p + "." + b64url(sig)


def claims(**extra):
    c = {"sub": SUB, "tenant": TENANT, "exp": EXP}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


TOKENS = [
    ("rs256", "RS256", "rsa-1", {"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}, claims()),
    ("es256", "ES256", "ec-1", {"alg": "ES256", "kid": "ec-1"}, claims()),
    ("eddsa", "EdDSA", "ed-1", {"alg": "EdDSA", "kid": "ed-1"}, claims(tenant=None)),
    ("rs256_no_kid", "RS256", "rsa-1", {"alg": "RS256"}, claims()),
    ("rs256_rsa2", "RS256", "rsa-2", {"alg": "RS256", "kid": "rsa-2"}, claims()),
    ("rs256_wrong_key", "RS256", "rsa-2", {"alg": "RS256", "kid": "rsa-1"}, claims()),
    ("rs256_unknown_kid", "RS256", "rsa-1", {"alg": "RS256", "kid": "rsa-9"}, claims()),
    ("rs256_expired", "RS256", "rsa-1", {"alg": "RS256", "kid": "rsa-1"}, claims(exp=1000000000)),
    ("rs256_nbf_future", "RS256", "rsa-1", {"alg": "RS256", "kid": "rsa-1"}, claims(nbf=4000000000)),
    ("rs256_nbf_past", "RS256", "rsa-1", {"alg": "RS256", "kid": "rsa-1"}, claims(nbf=1000000000)),
    ("aud_ok", "RS256", "rsa-1", {"alg": "RS256", "kid": "rsa-aud"},
     claims(iss="https://issuer.example", aud="api")),
    ("aud_array_ok", "RS256", "rsa-1", {"alg": "RS256", "kid": "rsa-aud"},
     claims(iss="https://issuer.example", aud=["web", "api"])),
    ("iss_wrong", "RS256", "rsa-1", {"alg": "RS256", "kid": "rsa-aud"},
     claims(iss="https://evil.example", aud="api")),
    ("iss_missing", "RS256", "rsa-1", {"alg": "RS256", "kid": "rsa-aud"}, claims(aud="api")),
    ("aud_wrong", "RS256", "rsa-1", {"alg": "RS256", "kid": "rsa-aud"},
     claims(iss="https://issuer.example", aud="web")),
    ("aud_array_wrong", "RS256", "rsa-1", {"alg": "RS256", "kid": "rsa-aud"},
     claims(iss="https://issuer.example", aud=["web", "admin"])),
    ("aud_array_nested", "RS256", "rsa-1", {"alg": "RS256", "kid": "rsa-aud"},
     claims(iss="https://issuer.example", aud=[["api"]])),
    ("es256_der", "ES256", "ec-1", {"alg": "ES256", "kid": "ec-1"}, claims()),
    ("es256_as_rs256", "ES256", "ec-1", {"alg": "RS256", "kid": "ec-1"}, claims()),
]


def main():
    out = []
    for name, alg, keyname, header, payload in TOKENS:
        out.append((name, sign(alg, keyname, header, payload, der_es256=(name == "es256_der"))))
    with open(os.path.join(HERE, "tokens.txt"), "w") as f:
        for name, tok in out:
            f.write(name + "\t" + tok + "\n")


if __name__ == "__main__":
    main()
