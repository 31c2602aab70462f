/**
 * Line input for ceremonies: on a terminal, what is typed or pasted for a
 * share or a passphrase is not echoed (node:readline with its output muted
 * while reading); from a pipe, lines are simply read, so scripted and
 * interactive ceremonies go through the same code. Prompts go to stderr.
 */
import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';

export class SecretPrompt {
  readonly tty: boolean;
  private readonly rl: Interface;
  private muted = false;
  private readonly queue: string[] = [];
  private waiter: { resolve: (l: string | null) => void; reject: (e: Error) => void } | null = null;
  private ended = false;

  constructor(input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin, private readonly output: NodeJS.WritableStream = process.stderr) {
    this.tty = Boolean(input.isTTY);
    const sink = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (!this.muted) output.write(chunk);
        cb();
      },
    });
    this.rl = createInterface({ input, output: sink, terminal: this.tty, historySize: 0 });
    this.rl.on('line', (l) => {
      const w = this.waiter;
      if (w) { this.waiter = null; w.resolve(l); } else this.queue.push(l);
    });
    this.rl.on('close', () => {
      this.ended = true;
      const w = this.waiter;
      this.waiter = null;
      w?.resolve(null);
    });
    this.rl.on('SIGINT', () => {
      const w = this.waiter;
      this.waiter = null;
      this.muted = false;
      this.output.write('\n');
      w?.reject(new Error('ceremony aborted (Ctrl-C)'));
      this.close();
    });
  }

  say(text: string): void {
    this.output.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  private next(): Promise<string | null> {
    const l = this.queue.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => { this.waiter = { resolve, reject }; });
  }

  /** One line; null at end of input. `hidden`: no echo on a terminal. */
  async line(prompt: string, hidden = false): Promise<string | null> {
    this.output.write(prompt);
    this.muted = hidden;
    try {
      return await this.next();
    } finally {
      if (hidden) {
        this.muted = false;
        if (this.tty) this.output.write('\n');
      }
    }
  }

  /**
   * A pasted block, hidden on a terminal: lines up to and including the one
   * equal to `endLine` (blank lines before it are skipped). Null when input
   * ends or the first line is "done".
   */
  async block(prompt: string, endLine: string): Promise<string | null> {
    this.output.write(prompt);
    this.muted = true;
    const lines: string[] = [];
    try {
      for (;;) {
        const l = await this.next();
        if (l === null) return lines.length ? lines.join('\n') : null;
        if (!lines.length && l.trim() === '') continue;
        if (!lines.length && /^(done|quit|q)$/i.test(l.trim())) return null;
        lines.push(l);
        if (l.trim() === endLine) return `${lines.join('\n')}\n`;
      }
    } finally {
      this.muted = false;
      if (this.tty) this.output.write('\n');
    }
  }

  close(): void {
    this.rl.close();
  }
}
