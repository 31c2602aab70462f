/**
 * Counters for the hottest paths (every OCSP answer, every request counted
 * for the SLOs). prom-client hashes the label object on each `inc` (about
 * 1 µs with three labels on this machine kind, more than the rest of a cached
 * OCSP answer's JavaScript). A HotCounter keeps one plain number per label
 * set and adds what accumulated to the prom-client Counter when the registry
 * is collected (`/metrics`, `metric.get()`), so the exported series, names
 * and values are the same as with direct increments.
 *
 * `slot(labels)` is called once per label set (at start-up, or on the first
 * use of a key) and returns the increment function to keep.
 */
import { Counter, type Registry } from 'prom-client';

export interface HotCounterOptions<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  registers: Registry[];
}

interface Slot<L extends string> { labels: Record<L, string>; pending: number; inc: () => void }
/** Slots in a tree of Maps, one level per label name: a lookup concatenates no strings. */
type SlotTree<L extends string> = Map<string, SlotTree<L> | Slot<L>>;

export class HotCounter<L extends string> {
  readonly counter: Counter<L>;
  private readonly slots: Array<Slot<L>> = [];
  private readonly tree: SlotTree<L> = new Map();
  private readonly labelNames: readonly L[];

  constructor(o: HotCounterOptions<L>) {
    if (o.labelNames.length === 0) throw new Error(`${o.name}: a HotCounter needs at least one label (use a prom-client Counter)`);
    this.labelNames = [...o.labelNames];
    const slots = this.slots;
    this.counter = new Counter<L>({
      name: o.name, help: o.help, labelNames: this.labelNames, registers: o.registers,
      collect() {
        for (const s of slots) {
          if (s.pending === 0) continue;
          this.inc(s.labels, s.pending);
          s.pending = 0;
        }
      },
    });
  }

  /** The increment function of one label set; the series is exported at 0 from now on. */
  slot(labels: Record<L, string>): () => void {
    return (this.find(labels) ?? this.add(labels)).inc;
  }

  /** Adds one to a label set (a lookup per label; use `slot` where the labels are known in advance). */
  inc(labels: Record<L, string>): void {
    const s = this.find(labels);
    if (s) s.pending++;
    else this.add(labels).inc();
  }

  /** The exported values (what `/metrics` shows), after adding what accumulated. */
  get(): ReturnType<Counter<L>['get']> {
    return this.counter.get();
  }

  private find(labels: Record<L, string>): Slot<L> | undefined {
    let node: SlotTree<L> | Slot<L> | undefined = this.tree;
    for (const n of this.labelNames) {
      node = (node as SlotTree<L>).get(String(labels[n]));
      if (node === undefined) return undefined;
    }
    return node as Slot<L>;
  }

  private add(labels: Record<L, string>): Slot<L> {
    const made: Slot<L> = { labels: { ...labels }, pending: 0, inc: () => { made.pending++; } };
    this.counter.inc(made.labels, 0);
    let node = this.tree;
    this.labelNames.forEach((n, i) => {
      const v = String(labels[n]);
      if (i === this.labelNames.length - 1) { node.set(v, made); return; }
      let next = node.get(v) as SlotTree<L> | undefined;
      if (!next) node.set(v, (next = new Map()));
      node = next;
    });
    this.slots.push(made);
    return made;
  }
}
