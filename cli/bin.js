#!/usr/bin/env node
// The installed `floxide` command: runs the TypeScript entry through tsx (a runtime dependency).
import { register } from "tsx/esm/api";

register();
const { main } = await import("./main.ts");
process.exitCode = await main(process.argv.slice(2));
