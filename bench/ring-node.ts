import type { Etcd3, Watcher } from 'etcd3';
import { now } from './clock.js';

/**
 * One participant of the raw put→watch ring, the floor of any handoff through etcd: it watches
 * its own key with a watch opened (and so synced) before the ring starts, and when the token
 * arrives it puts the next participant's key. The token carries its put's timestamp, so the
 * receiver measures the handoff (put issued → watch event handled) on the shared clock.
 */
export class RingNode {
  /** Handoff latencies seen by this node (ms). */
  readonly handoffs: number[] = [];
  /** Time from passing the token on to getting it back: a contender's wait for its next turn. */
  readonly cycles: number[] = [];
  errors = 0;
  firstError: string | undefined;
  private watcher: Watcher | undefined;
  private lastPass: number | undefined;
  private stopAt = Infinity;
  private halted = false;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    readonly index: number,
    private readonly n: number,
    /** Called once when this node ends the ring (it got the token after the stop time). */
    private readonly onHalt: () => void,
    /**
     * Also write a key of its own after each pass, off the token's path: the second write of a
     * Mutex cycle (the releaser's re-enqueue), so that this ring is the floor of any protocol
     * with two writes per handoff.
     */
    private readonly secondWrite = false,
  ) {}

  get received(): number {
    return this.handoffs.length;
  }

  /** Opens the watch from "now", so it is synced before any token is put. */
  async open(): Promise<void> {
    const watcher = await this.client
      .watch()
      .key(this.prefix + String(this.index))
      .create();
    watcher.on('put', (kv) => {
      this.receive(Number(kv.value.toString()));
    });
    watcher.on('error', (err: Error) => {
      this.fail(err);
    });
    this.watcher = watcher;
  }

  /** Starts the ring from this node: puts the first token. */
  start(stopAt: number): void {
    this.stopAt = stopAt;
    this.pass();
  }

  /** Sets when the ring ends (for the nodes that do not start it). */
  runUntil(stopAt: number): void {
    this.stopAt = stopAt;
  }

  async close(): Promise<void> {
    this.halted = true;
    await this.watcher?.cancel();
    this.watcher = undefined;
  }

  private receive(sentAt: number): void {
    const at = now();
    if (this.halted) return;
    this.handoffs.push(at - sentAt);
    if (this.lastPass !== undefined) this.cycles.push(at - this.lastPass);
    if (at >= this.stopAt) {
      this.halted = true;
      this.onHalt();
      return;
    }
    this.pass();
  }

  private pass(): void {
    const at = now();
    this.lastPass = at;
    const next = this.prefix + String((this.index + 1) % this.n);
    const passed = this.client.put(next).value(String(at));
    const done = this.secondWrite
      ? passed.then(() => this.client.put(`${this.prefix}own/${String(this.index)}`).value(String(at)))
      : passed;
    done.catch((err: unknown) => {
      this.fail(err);
    });
  }

  private fail(err: unknown): void {
    this.errors++;
    this.firstError ??= err instanceof Error ? err.message : String(err);
    if (!this.halted) {
      this.halted = true;
      this.onHalt();
    }
  }
}
