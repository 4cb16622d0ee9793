import pg from "pg";
import { CliError, CliErrorCode } from "../config/cli-error.js";

/**
 * Creates database `name` on the server of `adminUrl` unless it exists, and returns its URL (the
 * admin URL with the database replaced). Safe when several processes do it at once.
 */
export async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      } catch (error) {
        // 42P04 duplicate_database, or 23505 when a concurrent CREATE won the catalog race.
        const code = (error as { code?: string }).code;
        if (code !== "42P04" && code !== "23505") throw error;
      }
    }
  } catch (error) {
    throw new CliError(
      CliErrorCode.StartFailed,
      `cannot create database ${name} on ${redact(adminUrl)}: ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return url;
  }
}
