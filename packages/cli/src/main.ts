#!/usr/bin/env node
import { runCli } from "./run-cli.js";

const follow = new AbortController();
const argv = process.argv.slice(2);
if (argv[0] === "logs") process.once("SIGINT", () => follow.abort());

process.exitCode = await runCli(argv, {
  cwd: process.cwd(),
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  signal: follow.signal,
});
