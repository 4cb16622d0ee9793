import { type HttpCallOptions, type HttpResult, httpCall } from "./http-call.ts";

/** A logged-in shop user. */
export interface ShopUser {
  readonly id: string;
  readonly email: string;
  readonly token: string;
}

/** The shop as a client sees it: every request goes through the gateway. */
export class Gateway {
  readonly url: string;
  /** Told when a call waits out a rate limit. */
  onWait: ((message: string) => void) | undefined;

  constructor(url: string) {
    this.url = url;
  }

  /** One request to `path` (`/api/...`) through the gateway. */
  call(path: string, options: HttpCallOptions = {}): Promise<HttpResult> {
    return httpCall(`${this.url}${path}`, options);
  }

  /**
   * Logs in by e-mail (demo tokens: no password) and reads the user's id from `/api/me`. The token
   * route is rate limited per client address (`login-per-ip`); a 429 is waited out, within
   * `maxWaitMs` in all.
   */
  async login(email: string, maxWaitMs = 20_000): Promise<ShopUser> {
    const deadline = Date.now() + maxWaitMs;
    let issued = await this.call("/api/auth/token", { method: "POST", body: { email } });
    while (issued.status === 429) {
      const waitMs = Math.max(1, Number(issued.headers.get("retry-after") ?? 1)) * 1000;
      if (Date.now() + waitMs > deadline) break;
      this.onWait?.(`the login limit (login-per-ip) is spent: waiting ${waitMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      issued = await this.call("/api/auth/token", { method: "POST", body: { email } });
    }
    const token = (issued.body as { accessToken?: unknown } | undefined)?.accessToken;
    if (issued.status !== 200 || typeof token !== "string") {
      throw new Error(`logging in as ${email} answered ${issued.status}: ${JSON.stringify(issued.body)}`);
    }
    const me = await this.call("/api/me", { token });
    const id = (me.body as { id?: unknown } | undefined)?.id;
    if (me.status !== 200 || typeof id !== "string") {
      throw new Error(`GET /api/me as ${email} answered ${me.status}: ${JSON.stringify(me.body)}`);
    }
    return { id, email, token };
  }

  /** Creates a user (as `creator`, since the route needs a token) and logs in as it. */
  async signUp(creator: ShopUser, email: string, name: string): Promise<ShopUser> {
    const created = await this.call("/api/users", {
      method: "POST",
      token: creator.token,
      body: { email, name },
    });
    if (created.status !== 201 && created.status !== 409) {
      throw new Error(`creating ${email} answered ${created.status}: ${JSON.stringify(created.body)}`);
    }
    return this.login(email);
  }
}
