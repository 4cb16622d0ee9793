import { createHash, createHmac, pbkdf2, randomBytes } from "node:crypto";
import { promisify } from "node:util";

const pbkdf2Async = promisify(pbkdf2);

/** Options of {@link scramSha256Verifier}; both default to what PostgreSQL itself picks. */
export interface ScramVerifierOptions {
  /** Default: 16 random bytes. */
  readonly salt?: Buffer;
  /** Default 4096, PostgreSQL's `scram_iterations` default. */
  readonly iterations?: number;
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password`
 * (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, RFC 5802 §3), computed on this
 * side so that `CREATE ROLE … PASSWORD '<verifier>'` never sends the password itself, which the
 * server could otherwise write to its log. The password is prepared as `pg` does before login
 * (the SASLprep mappings and NFKC), so what `pg` sends matches.
 */
export async function scramSha256Verifier(
  password: string,
  options: ScramVerifierOptions = {},
): Promise<string> {
  const salt = options.salt ?? randomBytes(16);
  const iterations = options.iterations ?? 4096;
  const salted = await pbkdf2Async(saslPrep(password), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

// The same partial SASLprep (RFC 4013) as pg/lib/crypto/sasl.js: space mapping, mapped-to-nothing, NFKC.
function saslPrep(password: string): string {
  return password
    .replace(/[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g, " ")
    .replace(/\u00AD|\u034F|\u1806|\u180B|\u180C|\u180D|\u200C|\u200D|\u2060|[\uFE00-\uFE0F]|\uFEFF/g, "")
    .normalize("NFKC");
}
