import type { DeadLetterAction } from "../worker/store/index.ts";
import { openCliBackend } from "./backend.ts";
import type { Invocation } from "./program.ts";

/** `floxide queue redrive <workflow-name> <item-id> [--discard]`: the store's redrive function. */
export async function redriveAction({ args, redis, switches, json, env }: Invocation): Promise<number> {
  const [workflow, itemId] = args as [string, string];
  const action: DeadLetterAction = switches.has("discard") ? "discard" : "redrive";
  const backend = await openCliBackend(redis, env);
  try {
    const result = await backend.forWorkflow(workflow).redriveDeadLetter(itemId, action);
    process.stdout.write(
      json
        ? `${JSON.stringify({ workflow, itemId, action, ...result })}\n`
        : action === "discard"
          ? `discarded the dead letter of item ${itemId}\n`
          : `redrove item ${itemId}: run ${result.runId} is ${result.runStatus}\n`,
    );
    return 0;
  } finally {
    await backend.close();
  }
}
