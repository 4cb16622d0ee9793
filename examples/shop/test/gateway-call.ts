/** What the gateway answered: status, headers and the JSON body (undefined when empty). */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions.
  readonly body: any;
}

/** Options of {@link gatewayCall}: a bearer token, a JSON body, extra headers. */
export interface CallInit {
  readonly token?: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/** One request as a client of the shop makes it: `Authorization: Bearer`, JSON in and out. */
export async function gatewayCall(method: string, url: string, init: CallInit = {}): Promise<Answer> {
  const response = await fetch(url, {
    method,
    headers: {
      ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === "" ? undefined : JSON.parse(text),
  };
}
