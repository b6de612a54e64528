import { MemoryBackend } from "../../../worker/store/index.ts";
import { describeStoreContract } from "../../store/contract-suite.ts";
import { describeVersionContract } from "../../store/versions-suite.ts";

describeStoreContract("memory", { create: async (options) => new MemoryBackend(options) });
describeVersionContract("memory", { create: async (options) => new MemoryBackend(options) });
