export { CliError, CliErrorCode } from "./config/cli-error.js";
export {
  configFileNames,
  findConfigFile,
  type LoadedSystemConfig,
  loadSystemConfig,
  parseSystemConfig,
} from "./config/load-system-config.js";
export {
  defineSystem,
  type ParsedSystemConfig,
  type ServiceConfig,
  type SystemConfig,
  systemConfigSchema,
} from "./config/system-config.js";
export { type CliIo, runCli, usage } from "./run-cli.js";
export { type InstanceState, readState, type SystemState, stateFile } from "./state/system-state.js";
