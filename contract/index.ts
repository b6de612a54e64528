// The worker's outside contract: its options (flags, FLOXIDE_* variables, defaults, validation)
// and the mapping from Redis settings to a connection. Imports nothing of the worker, the
// operator or the CLI; they all import it.
export * from "./options.ts";
export * from "./worker-options.ts";
export * from "./redis-connection.ts";
