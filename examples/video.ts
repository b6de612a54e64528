/**
 * A video-like pipeline: split a video into chunks (fan-out), encode each chunk in parallel,
 * join the encoded chunks in order (fan-in), then publish. The context records every chunk
 * encoded, so concurrent branches' events must all be merged.
 */
import { join, next, nextAll, node, workflow } from "../worker/sdk/index.ts";

export interface VideoInput {
  readonly video: string;
  readonly chunks?: number;
  /** Upper bound of a random per-step delay, to shake out races in tests and demos. */
  readonly maxDelayMs?: number;
}

interface Chunk {
  readonly video: string;
  readonly index: number;
  readonly maxDelayMs: number;
}

interface Encoded {
  readonly index: number;
  readonly bytes: number;
}

type VideoEvent =
  { type: "chunk-encoded"; index: number; bytes: number } | { type: "published"; url: string };

interface VideoState {
  encoded: number[];
  bytes: number;
  published: string | null;
}

const pause = (maxMs: number, signal: AbortSignal): Promise<void> =>
  maxMs <= 0
    ? Promise.resolve()
    : new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, Math.random() * maxMs);
        signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
      });

const split = node<VideoInput, Chunk, VideoState, VideoEvent>("split", (_ctx, input) => {
  const count = input.chunks ?? 10;
  return nextAll(
    Array.from({ length: count }, (_, index) => ({
      video: input.video,
      index,
      maxDelayMs: input.maxDelayMs ?? 0,
    })),
  );
});

const encode = node<Chunk, Encoded & { maxDelayMs: number }, VideoState, VideoEvent>(
  "encode",
  async (ctx, chunk) => {
    await pause(chunk.maxDelayMs, ctx.signal);
    const bytes = 1000 + chunk.index * 10;
    ctx.emit({ type: "chunk-encoded", index: chunk.index, bytes });
    return next({ index: chunk.index, bytes, maxDelayMs: chunk.maxDelayMs });
  },
);

const assemble = join<
  Encoded & { maxDelayMs: number },
  { order: number[]; bytes: number; maxDelayMs: number },
  VideoState,
  VideoEvent
>("assemble", async (ctx, parts) => {
  await pause(parts[0]?.maxDelayMs ?? 0, ctx.signal);
  return next({
    order: parts.map((part) => part.index),
    bytes: parts.reduce((sum, part) => sum + part.bytes, 0),
    maxDelayMs: parts[0]?.maxDelayMs ?? 0,
  });
});

const publish = node<
  { order: number[]; bytes: number },
  { url: string; chunks: number; bytes: number },
  VideoState,
  VideoEvent
>("publish", (ctx, video) => {
  const url = `https://videos.example/${ctx.runId}`;
  ctx.emit({ type: "published", url });
  return next({ url, chunks: video.order.length, bytes: video.bytes });
});

export const videoWorkflow = workflow<VideoState, VideoEvent>({
  name: "video",
  version: "1",
  start: "split",
  nodes: [split, encode, assemble, publish],
  edges: { split: ["encode"], encode: ["assemble"], assemble: ["publish"] },
  context: {
    initial: () => ({ encoded: [], bytes: 0, published: null }),
    reduce: (state, event) =>
      event.type === "chunk-encoded"
        ? { ...state, encoded: [...state.encoded, event.index], bytes: state.bytes + event.bytes }
        : { ...state, published: event.url },
  },
  retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 100 },
});

export default videoWorkflow;
