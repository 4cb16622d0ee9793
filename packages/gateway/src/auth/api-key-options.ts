import { z } from "zod";

const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** One API key: the consumer it identifies and the key's hash (see `hashApiKey`), never the key. */
export const apiKeyEntrySchema = z
  .object({
    /** The consumer the key belongs to; becomes the identity's subject and consumer. */
    consumer: z.string().min(1),
    /** `sha256:` and 64 hex digits. */
    hash: z
      .string()
      .regex(/^sha256:[0-9a-fA-F]{64}$/, 'expected "sha256:" and 64 hex digits (see hashApiKey)')
      .transform((value) => value.toLowerCase()),
    roles: z.array(z.string().min(1)).default([]),
    scopes: z.array(z.string().min(1)).default([]),
  })
  .strict();

/** Options of the API key authenticator. */
export const apiKeyProviderSchema = z
  .object({
    /** The request header holding the key. Default `x-api-key`. */
    header: z
      .string()
      .regex(headerName, "expected an HTTP header name")
      .default("x-api-key")
      .transform((value) => value.toLowerCase()),
    keys: z.array(apiKeyEntrySchema),
  })
  .strict()
  .superRefine((options, ctx) => {
    const seen = new Map<string, number>();
    options.keys.forEach((entry, index) => {
      const first = seen.get(entry.hash);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          message: `the same key hash as keys.${first}`,
          path: ["keys", index, "hash"],
        });
      }
      seen.set(entry.hash, index);
    });
  });

/** {@link apiKeyProviderSchema}'s input. */
export type ApiKeyProviderInput = z.input<typeof apiKeyProviderSchema>;

/** {@link apiKeyProviderSchema}'s output. */
export type ApiKeyProviderOptions = z.output<typeof apiKeyProviderSchema>;
