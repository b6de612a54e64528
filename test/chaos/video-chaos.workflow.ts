/**
 * The video example (examples/video.ts) unchanged, but with 20 deliveries per item instead of 3:
 * the chaos suite kills workers and Redis on purpose, and every reclaimed lease counts as an
 * attempt, so an unlucky chunk hit by three faults would be dead-lettered by design.
 */
import { videoWorkflow } from "../../examples/video.ts";

export default { ...videoWorkflow, retry: { ...videoWorkflow.retry, maxAttempts: 20 } };
