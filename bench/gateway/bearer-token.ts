// The credentials of the `flotilla-auth` scenario: a fresh RSA key pair, its public key as a JSON
// Web Key Set file, and an RS256 JWT signed with the private key, valid for the whole run.
// Signed with node:crypto (RFC 7515 compact serialisation), so the bench needs no JOSE library.
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** What the gateway is given (JWKS file, issuer, audience) and what the load generator sends. */
export interface BearerCredentials {
  readonly jwksFile: string;
  readonly token: string;
  readonly issuer: string;
  readonly audience: string;
}

const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Generates the key pair, writes `<dir>/jwks.json` and signs a token that expires in `ttlSeconds`. */
export function bearerCredentials(dir: string, ttlSeconds = 3600): BearerCredentials {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = `bench-${randomBytes(4).toString("hex")}`;
  const jwk = { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" };
  const jwksFile = join(dir, "jwks.json");
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  const issuer = "https://issuer.flotilla-bench.test";
  const audience = "flotilla-gateway";
  const now = Math.floor(Date.now() / 1000);
  const signingInput = `${base64url({ alg: "RS256", typ: "JWT", kid })}.${base64url({
    iss: issuer,
    aud: audience,
    sub: "bench-user",
    scope: "read",
    iat: now,
    nbf: now - 60,
    exp: now + ttlSeconds,
  })}`;
  const signature = sign("sha256", Buffer.from(signingInput), privateKey).toString("base64url");
  return { jwksFile, token: `${signingInput}.${signature}`, issuer, audience };
}
