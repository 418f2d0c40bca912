/**
 * A queue trigger fed from Azurite: polls the queue named by the binding, decodes base64 per host.json, invokes the
 * function with the message (JSON-parsed by the library when it is JSON) and its metadata, deletes it on success,
 * makes it visible again after `visibilityTimeout` on failure, and moves it — text unchanged — to `<queue>-poison`
 * after `maxDequeueCount` attempts, as the real host does.
 *
 * A received message stays invisible for `leaseSeconds` (the WebJobs SDK's QueueListener: a fixed 10 minutes), renewed
 * halfway to expiry while its function runs. So a host that dies mid-function leaves the message invisible until the
 * last renewal's lease runs out (at most 10 minutes), then it is delivered again with a higher dequeue count.
 */
import { QueueClient, type ReceivedMessageItem } from "@azure/storage-queue";

import { resolveSetting } from "../host-json";
import type { Invoker } from "../invoke";
import type { RegisteredFunction } from "../registry";

export interface QueueSettings {
  readonly maxDequeueCount: number;
  readonly visibilityTimeoutMs: number;
  readonly base64: boolean;
  readonly batchSize: number;
  readonly pollMs: number;
  /** How long a received message stays invisible while its function runs; renewed at half of it. */
  readonly leaseSeconds: number;
}

/** The real host's receive invisibility (QueueListener `_visibilityTimeout`), not configurable there. */
export const QUEUE_MESSAGE_LEASE_SECONDS = 600;

export class QueuePoller {
  readonly queueName: string;
  readonly #queue: QueueClient;
  readonly #poison: QueueClient;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #inFlight = 0;
  #lastPollFound = 0;
  /** Messages that failed and are waiting to be seen again: not idle until they succeed or are poisoned. */
  readonly #retrying = new Set<string>();

  constructor(
    private readonly fn: RegisteredFunction,
    private readonly invoker: Invoker,
    private readonly settings: QueueSettings,
    private readonly onError: (message: string) => void,
  ) {
    this.queueName = resolveSetting(String(fn.trigger.queueName)).toLowerCase();
    const connectionName = typeof fn.trigger.connection === "string" && fn.trigger.connection !== "" ? fn.trigger.connection : "AzureWebJobsStorage";
    const connectionString = process.env[connectionName];
    if (connectionString === undefined || connectionString === "") {
      throw new Error(`queue trigger '${fn.name}': app setting '${connectionName}' (a storage connection string) is not set`);
    }
    this.#queue = new QueueClient(connectionString, this.queueName);
    this.#poison = new QueueClient(connectionString, `${this.queueName}-poison`);
  }

  get idle(): boolean {
    return this.#inFlight === 0 && this.#lastPollFound === 0 && this.#retrying.size === 0;
  }

  /**
   * Messages in the queue, visible or not. `idle` only knows the last poll: a message enqueued just after an empty
   * poll is seen at the next one, so "idle" also needs the queue itself to be empty.
   */
  async queued(): Promise<number> {
    return (await this.#queue.getProperties()).approximateMessagesCount ?? 0;
  }

  async start(): Promise<void> {
    await this.#queue.createIfNotExists();
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#poll(), ms);
  }

  async #poll(): Promise<void> {
    try {
      const { receivedMessageItems } = await this.#queue.receiveMessages({ numberOfMessages: this.settings.batchSize, visibilityTimeout: this.settings.leaseSeconds });
      this.#lastPollFound = receivedMessageItems.length;
      this.#inFlight += receivedMessageItems.length;
      await Promise.all(receivedMessageItems.map((m) => this.#process(m).finally(() => this.#inFlight--)));
    } catch (err) {
      if (!this.#stopped) this.onError(`queue '${this.queueName}': ${err instanceof Error ? err.message : String(err)}`);
    }
    this.#schedule(this.#lastPollFound > 0 ? 0 : this.settings.pollMs);
  }

  async #process(m: ReceivedMessageItem): Promise<void> {
    if (this.#stopped) return;
    if (m.dequeueCount > this.settings.maxDequeueCount) {
      await this.#toPoison(m);
      return;
    }
    const lease = this.#keepInvisible(m);
    try {
      const text = this.settings.base64 ? Buffer.from(m.messageText, "base64").toString("utf8") : m.messageText;
      await this.invoker.invoke(this.fn, {
        trigger: { string: text },
        triggerMetadata: {
          DequeueCount: { int: m.dequeueCount },
          Id: { string: m.messageId },
          InsertionTime: { string: m.insertedOn.toISOString() },
          ExpirationTime: { string: m.expiresOn.toISOString() },
          NextVisibleTime: { string: m.nextVisibleOn.toISOString() },
          PopReceipt: { string: m.popReceipt },
        },
      });
      const popReceipt = await lease.end();
      await this.#queue.deleteMessage(m.messageId, popReceipt);
      this.#retrying.delete(m.messageId);
    } catch {
      const popReceipt = await lease.end();
      if (this.#stopped) return;
      if (m.dequeueCount >= this.settings.maxDequeueCount) {
        await this.#toPoison(m, popReceipt);
      } else {
        this.#retrying.add(m.messageId);
        await this.#queue.updateMessage(m.messageId, popReceipt, undefined, Math.round(this.settings.visibilityTimeoutMs / 1000));
      }
    }
  }

  /**
   * Renews the message's invisibility halfway to expiry until `end()`, which waits for a renewal under way and returns
   * the current pop receipt (each renewal replaces it; delete and update need the latest).
   */
  #keepInvisible(m: ReceivedMessageItem): { end(): Promise<string> } {
    let popReceipt = m.popReceipt;
    let renewal: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      renewal = renewal.then(async () => {
        try {
          const renewed = await this.#queue.updateMessage(m.messageId, popReceipt, undefined, this.settings.leaseSeconds);
          if (renewed.popReceipt !== undefined) popReceipt = renewed.popReceipt;
        } catch (err) {
          this.onError(`queue '${this.queueName}': renewing message ${m.messageId}: ${err instanceof Error ? err.message : String(err)}`);
        }
      });
    }, this.settings.leaseSeconds * 500);
    return {
      end: async () => {
        clearInterval(timer);
        await renewal;
        return popReceipt;
      },
    };
  }

  async #toPoison(m: ReceivedMessageItem, popReceipt = m.popReceipt): Promise<void> {
    await this.#poison.createIfNotExists();
    await this.#poison.sendMessage(m.messageText);
    await this.#queue.deleteMessage(m.messageId, popReceipt);
    this.#retrying.delete(m.messageId);
  }
}
