/**
 * The local loop: `floxide demo` and `floxide dev` run a workflow on this machine the way the
 * cluster would (a store, a fleet of workers scaled from zero by the operator's policy, a live
 * view), and the throwaway redis-server they (and the tests) start. Everything else in this
 * folder is private to it.
 */
export { demo, demoAction, type DemoOptions, type DemoSummary } from "./demo.ts";
export { dev, devAction, type DevOptions } from "./dev.ts";
export {
  LOCAL_WORKER_OPTIONS_LEFT_TO_DEFAULTS,
  workerProcessArgs,
  type ProcessFleetOptions,
} from "./fleet.ts";
export {
  findOnPath,
  freePort,
  LOOPBACK,
  pingOnce,
  startRedisServer,
  type RedisServerOptions,
  type RedisServerProcess,
  withOneShotClient,
} from "./redis-server.ts";
