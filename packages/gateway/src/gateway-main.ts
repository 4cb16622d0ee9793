#!/usr/bin/env node
// The gateway as a process: `flotilla-gateway --config gateway.yaml` (flags in
// server/run-gateway.ts), run from the built `dist/gateway-main.js` after `npm run build`.
import { runGateway } from "./server/run-gateway.js";

await runGateway(process.argv.slice(2), process.env);
