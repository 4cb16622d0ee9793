import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
} from "node:crypto";
import { problem } from "@flotilla/service";

/** Something that runs SQL: a pool or the service's `ctx.db`. */
export interface SqlRunner {
  query<R extends Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** Claims of the shop's access tokens. */
export interface TokenClaims {
  readonly sub: string;
  readonly email: string;
  readonly name: string;
}

/** Options of {@link TokenSigner}. */
export interface TokenSignerOptions {
  /** `iss` of the tokens. Default `shop-users`. */
  readonly issuer?: string;
  /** `aud` of the tokens. Default `shop-api`. */
  readonly audience?: string;
  /** Lifetime in seconds. Default 3600. */
  readonly ttlSeconds?: number;
  /** Epoch ms now. Default `Date.now`. */
  readonly now?: () => number;
}

interface LoadedKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: Record<string, unknown>;
}

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * Issues RS256 JWTs with the users service's key. `load` reads the key from the database, or
 * generates and stores it on the very first start (the one row's primary key makes concurrent
 * first starts agree on one key).
 */
export class TokenSigner {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  readonly #now: () => number;
  #key: LoadedKey | undefined;

  constructor(options: TokenSignerOptions = {}) {
    this.issuer = options.issuer ?? "shop-users";
    this.audience = options.audience ?? "shop-api";
    this.ttlSeconds = options.ttlSeconds ?? 3600;
    this.#now = options.now ?? Date.now;
  }

  /** Loads the key, creating it first when the database has none. */
  async load(db: SqlRunner): Promise<void> {
    const existing = await this.#read(db);
    if (existing !== undefined) {
      this.#key = existing;
      return;
    }
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await db.query(
      "INSERT INTO signing_keys (slot, kid, private_key_pem) VALUES (1, $1, $2) ON CONFLICT (slot) DO NOTHING",
      [randomUUID(), privateKey.export({ type: "pkcs8", format: "pem" })],
    );
    this.#key = await this.#read(db);
  }

  /** A signed compact JWT for these claims. */
  issue(claims: TokenClaims): string {
    const key = this.#loaded();
    const iat = Math.floor(this.#now() / 1000);
    const payload = { ...claims, iss: this.issuer, aud: this.audience, iat, exp: iat + this.ttlSeconds };
    const input = `${base64url({ alg: "RS256", typ: "JWT", kid: key.kid })}.${base64url(payload)}`;
    return `${input}.${sign("sha256", Buffer.from(input), key.privateKey).toString("base64url")}`;
  }

  /** The public key set (RFC 7517). */
  jwks(): { keys: Record<string, unknown>[] } {
    return { keys: [this.#loaded().jwk] };
  }

  #loaded(): LoadedKey {
    if (this.#key === undefined) {
      throw problem(503, "the signing key is not loaded yet", { code: "USERS_NOT_READY" });
    }
    return this.#key;
  }

  async #read(db: SqlRunner): Promise<LoadedKey | undefined> {
    const { rows } = await db.query<{ kid: string; private_key_pem: string }>(
      "SELECT kid, private_key_pem FROM signing_keys WHERE slot = 1",
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const privateKey = createPrivateKey(row.private_key_pem);
    const jwk = {
      ...createPublicKey(privateKey).export({ format: "jwk" }),
      kid: row.kid,
      alg: "RS256",
      use: "sig",
    };
    return { kid: row.kid, privateKey, jwk };
  }
}
