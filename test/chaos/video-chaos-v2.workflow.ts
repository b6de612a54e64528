/**
 * Version 2 of the chaos video workflow: the same graph and code under a new `version`, so the
 * version-change chaos run has two versions of one workflow on one Redis.
 */
import chaos from "./video-chaos.workflow.ts";

export default { ...chaos, version: "2" };
