/**
 * The entry the queue trigger writes to `<queue>-poison` for a message it refuses: base64 JSON
 * `{ reason, message, id, dequeueCount, rejectedAt }`, always small enough to send, whatever was received. A message
 * that cannot be serialised again (nested too deep) or would not fit beside its reason is kept as a text excerpt with
 * `messageTruncated: { originalLength }`; an overlong reason is cut too. So every refusal reaches the poison queue on
 * its first delivery instead of failing the function (and getting the host's blind retries). Pure (no I/O).
 */
import { ensureError } from "./errors";

/** Queue messages are limited to 64 KiB, base64 included. */
export const MAX_POISON_MESSAGE_BYTES = 64 * 1024;
const MAX_REASON_CHARS = 2_000;

export interface PoisonEntry {
  readonly reason: string;
  readonly message: unknown;
  readonly id: unknown;
  readonly dequeueCount: unknown;
  readonly rejectedAt: string;
}

const cut = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`);

function encode(value: unknown): string | undefined {
  try {
    const encoded = Buffer.from(JSON.stringify(value), "utf8").toString("base64");
    return encoded.length <= MAX_POISON_MESSAGE_BYTES ? encoded : undefined;
  } catch {
    // Nested too deep to serialise again (RangeError), or otherwise not serialisable.
    return undefined;
  }
}

function asText(message: unknown): string {
  if (typeof message === "string") return message;
  try {
    return JSON.stringify(message) ?? String(message);
  } catch (err) {
    return `[the message could not be serialised again: ${ensureError(err).message}]`;
  }
}

/** The poison queue message (base64) for `entry`. */
export function poisonMessage(entry: PoisonEntry): string {
  const base = { ...entry, reason: cut(entry.reason, MAX_REASON_CHARS) };
  const whole = encode(base);
  if (whole !== undefined) return whole;
  const text = asText(entry.message);
  for (let keep = Math.min(text.length, MAX_POISON_MESSAGE_BYTES); keep >= 0; keep = keep === 0 ? -1 : Math.floor(keep / 2)) {
    const encoded = encode({ ...base, message: text.slice(0, keep), messageTruncated: { originalLength: text.length } });
    if (encoded !== undefined) return encoded;
  }
  // Unreachable: an empty excerpt with a cut reason always fits.
  throw new Error("the poison entry does not fit a queue message");
}
