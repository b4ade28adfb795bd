#!/usr/bin/env python3
"""Fuzz inputs for pg_tenancy's token verifier and permset input function.

Usage: gen.py COUNT SEED > inputs.copy

Writes COUNT inputs per target ("token", "permset") in COPY text format:
id, target, kind, input (bytea, so that invalid UTF-8 survives the trip).
The same COUNT and SEED always give the same inputs.  Token inputs start
from the valid tokens of test/keys/tokens.txt (RS256, ES256, EdDSA) and
from HS256 tokens signed here with the fuzz database's HS256 key, so that
mutated headers and payloads still pass the signature and reach the JSON
and claim checks.  Standard library only.
"""
import base64
import hashlib
import hmac
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HS_SECRET = b"fuzz secret, thirty-two bytes or more"
SUB = "11111111-1111-4111-8111-111111111111"
TENANT = "22222222-2222-4222-8222-222222222222"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hs256(header, payload, kid_secret=HS_SECRET):
    """header and payload are bytes; returns a token signed with HS256."""
    msg = (b64url(header) + "." + b64url(payload)).encode()
    return msg + b"." + b64url(hmac.new(kid_secret, msg, hashlib.sha256).digest()).encode()


def load_seeds():
    seeds = []
    with open(os.path.join(HERE, "..", "keys", "tokens.txt")) as f:
        for line in f:
            name, tok = line.rstrip("\n").split("\t")
            seeds.append(tok.encode())
    for claims in ({"sub": SUB, "exp": 4102444800},
                   {"sub": SUB, "tenant": TENANT, "exp": 4102444800, "nbf": 1000000000},
                   {"sub": SUB, "exp": 4102444800, "aud": ["a", "b"], "iss": "x"}):
        for header in ({"alg": "HS256", "kid": "hs-1"}, {"alg": "HS256"}):
            seeds.append(hs256(json.dumps(header).encode(), json.dumps(claims).encode()))
    return seeds


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.seeds = load_seeds()

    # Small pieces ---------------------------------------------------------

    def rand_bytes(self, n, alphabet=None):
        r = self.r
        if alphabet is None:
            return bytes(r.randrange(256) for _ in range(n))
        return "".join(r.choice(alphabet) for _ in range(n)).encode()

    def mutate_bytes(self, b, edits=None):
        r = self.r
        b = bytearray(b)
        for _ in range(edits or r.randint(1, 6)):
            op = r.randrange(7)
            pos = r.randrange(len(b) + 1)
            if op == 0 and b:
                i = r.randrange(len(b))
                b[i] ^= 1 << r.randrange(8)
            elif op == 1 and b:
                b[r.randrange(len(b))] = ord(r.choice(B64 + ".=+/ \n\\\"{}[]:,"))
            elif op == 2 and b:
                del b[pos:pos + r.randint(1, 8)]
            elif op == 3:
                b[pos:pos] = self.rand_bytes(r.randint(1, 8), B64 + ".")
            elif op == 4 and b:
                i = r.randrange(len(b))
                b[pos:pos] = b[i:i + r.randint(1, 40)]
            elif op == 5:
                b[pos:pos] = bytes([r.randrange(256)])
            elif op == 6 and b:
                del b[r.randrange(len(b)):]
        return bytes(b)

    def rand_scalar(self):
        r = self.r
        return r.choice([
            lambda: SUB, lambda: TENANT, lambda: "", lambda: "HS256", lambda: "none",
            lambda: r.randint(-2 ** 63, 2 ** 63), lambda: 4102444800, lambda: 1000000000,
            lambda: r.random() * 1e12, lambda: 1e308, lambda: -0.0, lambda: None,
            lambda: True, lambda: False, lambda: "x" * r.randint(0, 300),
            lambda: "".join(chr(r.choice([r.randrange(32, 127), r.randrange(0x80, 0xD800),
                                          r.randrange(0xE000, 0x110000)]))
                            for _ in range(r.randint(0, 20))),
        ])()

    def rand_json(self, depth=0):
        r = self.r
        if depth > 4 or r.random() < 0.4:
            return self.rand_scalar()
        if r.random() < 0.5:
            return [self.rand_json(depth + 1) for _ in range(r.randint(0, 4))]
        names = ["alg", "kid", "sub", "tenant", "exp", "nbf", "iss", "aud", "typ", "x", ""]
        return {r.choice(names): self.rand_json(depth + 1) for _ in range(r.randint(0, 6))}

    def claims(self):
        r = self.r
        c = {"sub": SUB, "exp": 4102444800}
        for k in ("tenant", "nbf", "iss", "aud"):
            if r.random() < 0.3:
                c[k] = r.choice(["x", "b", ["a", "b"], ["b"], "a"]) if k in ("iss", "aud") and \
                    r.random() < 0.7 else self.rand_json(3)
        if r.random() < 0.5:
            k = r.choice(list(c) + ["sub", "exp", "alg"])
            c[k] = self.rand_json(2)
        # The user and tenant nested, for the claim paths "x.sub" and
        # "x.tenant" that the driver sets for some inputs.
        if r.random() < 0.4:
            c["x"] = {"sub": r.choice([SUB, "auth0|fuzz", self.rand_json(3)]),
                      "tenant": r.choice([TENANT, self.rand_json(3)])}
        return c

    def header(self):
        r = self.r
        h = {"alg": r.choice(["HS256", "HS256", "RS256", "ES256", "EdDSA", "none", "HS512", "hs256", ""]),
             "kid": r.choice(["hs-1", "hs-1", "hs-aud", "rsa-1", "ec-1", "ed-1", "nope", ""])}
        if r.random() < 0.2:
            del h["kid"]
        if r.random() < 0.2:
            h[r.choice(["alg", "kid", "typ", "crit"])] = self.rand_json(2)
        return h

    def dumps(self, v):
        return json.dumps(v, ensure_ascii=self.r.random() < 0.5).encode("utf-8", "surrogatepass")

    def bad_utf8(self):
        return self.r.choice([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf",
                              b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x00",
                              b"\\u0000", b"\\ud800", b"\\udc00\\ud800", b"\x80"])

    def nested(self, n):
        r = self.r
        o, c = r.choice([(b"[", b"]"), (b'{"a":', b"}"), (b'[{"a":', b"}]")])
        close = c * n if r.random() < 0.7 else b""
        return o * n + b"1" + close

    # Targets --------------------------------------------------------------

    def token(self, i, huge):
        r = self.r
        if huge:
            n = r.choice([8193, 65536, r.randint(100000, 3 * 1024 * 1024)])
            kind = "huge"
            body = self.rand_bytes(min(n, 64), B64)
            return kind, (body * (n // len(body) + 1))[:n - 2] + b".."
        k = r.randrange(100)
        seed = r.choice(self.seeds)
        if k < 3:
            return "seed", seed
        if k < 30:
            return "mutate", self.mutate_bytes(seed)
        if k < 40:
            h, p, s = seed.split(b".")
            part = r.randrange(3)
            parts = [h, p, s]
            parts[part] = parts[part] + r.choice([b"=", b"==", b"A", b"AA", b"AAA", b" ", b"\n", b"+", b"/"])
            if r.random() < 0.5:
                last = parts[part][-1:]
                if last.decode("latin-1") in B64:
                    parts[part] = parts[part][:-1] + B64[(B64.index(last.decode()) + r.randint(1, 3)) % 64].encode()
            return "base64url", b".".join(parts)
        if k < 60:
            # hs-aud has the same secret, and wants "iss" x and "aud" b.
            return "claims", hs256(self.dumps(self.header()) if r.random() < 0.3 else
                                   r.choice([b'{"alg":"HS256","kid":"hs-1"}',
                                             b'{"alg":"HS256","kid":"hs-aud"}']),
                                   self.dumps(self.claims()))
        if k < 70:
            # Mutated JSON under a valid signature.
            h = self.dumps({"alg": "HS256", "kid": "hs-1"})
            p = self.dumps(self.claims())
            if r.random() < 0.3:
                h = self.mutate_bytes(h, 2)
            else:
                p = self.mutate_bytes(p)
            return "json", hs256(h, p)
        if k < 78:
            n = r.choice([15, 16, 17, 100, 1000, r.randint(1, 6000)])
            inner = self.nested(n)
            if r.random() < 0.5:
                return "deep", hs256(b'{"alg":"HS256","kid":"hs-1","x":' + inner + b"}",
                                     self.dumps({"sub": SUB, "exp": 4102444800}))
            return "deep", hs256(b'{"alg":"HS256","kid":"hs-1"}',
                                 b'{"sub":"' + SUB.encode() + b'","exp":4102444800,"x":' + inner + b"}")
        if k < 86:
            bad = self.bad_utf8()
            p = b'{"sub":"' + SUB.encode() + b'","exp":4102444800,"' + \
                r.choice([b"x", b"iss", b"aud", b"sub"]) + b'":"a' + bad + b'b"}'
            if r.random() < 0.3:
                return "utf8", hs256(b'{"alg":"HS256","kid":"hs-1","typ":"' + bad + b'"}', p)
            return "utf8", hs256(b'{"alg":"HS256","kid":"hs-1"}', p)
        if k < 90:
            # Another key's algorithm under the HS256 secret, and the like.
            return "confusion", hs256(self.dumps(self.header()), self.dumps(self.claims()))
        if k < 95:
            return "random", self.rand_bytes(r.randint(0, 300), B64 + "." if r.random() < 0.7 else None)
        return "random", self.rand_bytes(r.randint(0, 300))

    def perm_name(self):
        r = self.r
        k = r.randrange(10)
        if k < 6:
            return "".join(r.choice("abcdefghijklmnopqrstuvwxyz_0123456789")
                           for _ in range(r.randint(1, 12)))
        if k < 7:
            return "*"
        if k < 8:
            return "a" * r.choice([62, 63, 64, 65, 200])
        if k < 9:
            return "".join(chr(r.randrange(0x80, 0x3000)) for _ in range(r.randint(1, 5)))
        return r.choice(["", " ", "A", "1a", "a-b", "a b", ":", "**", "\\", "\"", "a.b"])

    def permset(self, i, huge):
        r = self.r
        if huge:
            k = r.randrange(3)
            if k == 0:
                n = r.choice([65535, 65536, 70000, 200000])
                return "huge", ("{" + ",".join("r%d:a" % j for j in range(n)) + "}").encode()
            if k == 1:
                return "huge", b"{" + b"a" * r.randint(100000, 3 * 1024 * 1024) + b":b}"
            return "huge", b"{" + b" " * r.randint(100000, 3 * 1024 * 1024) + b"}"
        k = r.randrange(100)
        name = (lambda: self.perm_name()) if r.random() < 0.5 else \
            (lambda: r.choice(["read", "write", "pipeline", "model", "*", "team_1", "a"]))
        valid = "{" + ",".join(name() + ":" + name() for _ in range(r.randint(0, 20))) + "}"
        ws = r.choice(["", " ", "\t", "\n", "  "])
        if k < 35:
            return "generated", (ws + valid + ws).encode()
        if k < 70:
            return "mutate", self.mutate_bytes(valid.encode())
        if k < 78:
            n = r.choice([2, 10, 1000, r.randint(1, 100000)])
            return "deep", b"{" * n + b"a:b" + b"}" * (n if r.random() < 0.5 else 0)
        if k < 86:
            return "utf8", b"{a" + self.bad_utf8() + b":b}"
        if k < 93:
            return "random", self.rand_bytes(r.randint(0, 200),
                                             "{}:,*ab_ \t\n\"\\" if r.random() < 0.7 else None)
        return "random", self.rand_bytes(r.randint(0, 200))


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    g = Gen(seed)
    out = sys.stdout.buffer
    # A few huge inputs per target, at fixed places: at most 12.
    huge_every = max(count // 12, 50)
    ident = 0
    for target, make in (("token", g.token), ("permset", g.permset)):
        for i in range(count):
            ident += 1
            kind, data = make(i, i % huge_every == huge_every - 1)
            out.write(b"%d\t%s\t%s\t\\\\x%s\n" % (ident, target.encode(), kind.encode(),
                                                 data.hex().encode()))


if __name__ == "__main__":
    main()
