import { MemoryBackend } from "../../../worker/store/index.ts";
import { describeStoreContract } from "../../store/contract-suite.ts";

describeStoreContract("memory", { create: async (options) => new MemoryBackend(options) });
