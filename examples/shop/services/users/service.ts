import { defaultDatabaseConnector, defineService, type HandlerDatabase, problem } from "@flotilla/service";
import type { ShopService } from "../../lib/shop-service.ts";
import { subjectOf, subjectStep } from "../../lib/subject-step.ts";
import { users } from "./contract.ts";
import { type SqlRunner, TokenSigner, type TokenSignerOptions } from "./token-signer.ts";

interface UserRow extends Record<string, unknown> {
  id: string;
  email: string;
  name: string;
}

async function findUser(db: HandlerDatabase, column: "id" | "email", value: string): Promise<UserRow> {
  const { rows } = await db.query<UserRow>(`SELECT id, email, name FROM users WHERE ${column} = $1`, [value]);
  const row = rows[0];
  if (row === undefined) throw problem(404, `no user with ${column} ${value}`, { code: "USERS_NOT_FOUND" });
  return row;
}

/**
 * The users service: profiles (seeded: alice@example.com, bob@example.com), `POST /token` for
 * demo logins and `GET /.well-known/jwks.json` for the gateway's JWT verification. The RS256 key
 * is generated at the first start and kept in the service's database.
 */
export function usersShopService(options: TokenSignerOptions = {}): ShopService {
  const signer = new TokenSigner(options);
  const service = defineService({
    contract: users,
    database: { migrations: new URL("./migrations/", import.meta.url) },
    pipeline: [subjectStep({ publicRoutes: ["issueToken", "jwks", "getUser", "createUser"] })],
    handlers: {
      async issueToken({ body }, ctx) {
        const user = await findUser(ctx.db, "email", body.email);
        const accessToken = signer.issue({ sub: user.id, email: user.email, name: user.name });
        ctx.logger.info({ userId: user.id }, "token issued");
        return { accessToken, tokenType: "Bearer" as const, expiresIn: signer.ttlSeconds };
      },
      async jwks(_input) {
        return signer.jwks();
      },
      async me(_input, ctx) {
        return findUser(ctx.db, "id", subjectOf(ctx));
      },
      async getUser({ params }, ctx) {
        return findUser(ctx.db, "id", params.id);
      },
      async createUser({ body }, ctx) {
        const { rows } = await ctx.db.query<UserRow>(
          `INSERT INTO users (id, email, name) VALUES ('u-' || gen_random_uuid(), $1, $2)
           ON CONFLICT (email) DO NOTHING RETURNING id, email, name`,
          [body.email, body.name],
        );
        if (rows[0] === undefined)
          throw problem(409, `${body.email} is taken`, { code: "USERS_EMAIL_TAKEN" });
        return rows[0];
      },
    },
  });
  return {
    service,
    defaults: {},
    hooks: {
      connectDatabase: async (request) => {
        const handle = await defaultDatabaseConnector(request);
        try {
          await signer.load(handle.db as SqlRunner);
        } catch (error) {
          await handle.close();
          throw error;
        }
        return handle;
      },
    },
  };
}
