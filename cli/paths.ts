/**
 * Files of this package that its processes start or load, resolved next to this module: `.ts`
 * when Node runs the sources (development, tests), `.js` when it runs the compiled `dist/`.
 */
import { fileURLToPath } from "node:url";

const EXTENSION = import.meta.url.endsWith(".ts") ? ".ts" : ".js";

const ownFile = (relative: string): string =>
  fileURLToPath(new URL(`${relative}${EXTENSION}`, import.meta.url));

/** The CLI's entry module (`floxide` with its arguments). */
export const CLI_ENTRY = ownFile("./bin");
/** The video example that `floxide demo` runs. */
export const VIDEO_EXAMPLE = ownFile("../examples/video");
