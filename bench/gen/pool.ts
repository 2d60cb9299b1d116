/** The bench's side of the generator processes: fork (pinned), request/reply over IPC. */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GEN_CORES, TASKSET_PATH, track } from '../procs.js';
import type { GenEvent, OpenResult, Reply, Request, RunResult } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

export class Gen {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  onEvent: ((e: GenEvent) => void) | null = null;
  private exitReason: string | null = null;

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {
    child.on('message', (m: Reply | GenEvent) => {
      if ('ev' in m) return this.onEvent?.(m);
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      p?.resolve(m);
    });
    child.on('exit', (code, signal) => {
      this.exitReason = `generator ${index} exited (${signal ?? code})`;
      for (const p of this.pending.values()) p.reject(new Error(this.exitReason));
      this.pending.clear();
    });
  }

  get alive(): boolean {
    return this.exitReason === null;
  }

  private async request(req: Request): Promise<OpenResult | RunResult | null> {
    if (this.exitReason) throw new Error(this.exitReason);
    const id = ++this.seq;
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...req, id });
    });
    if (!reply.ok) throw new Error(reply.error);
    return reply.result;
  }

  async open(req: Extract<Request, { op: 'open' }>): Promise<OpenResult> {
    return (await this.request(req)) as OpenResult;
  }
  async flows(req: Extract<Request, { op: 'flows' }>): Promise<void> {
    await this.request(req);
  }
  async run(req: Extract<Request, { op: 'run' }>): Promise<RunResult> {
    return (await this.request(req)) as RunResult;
  }
  async close(): Promise<void> {
    await this.request({ op: 'close' });
  }
}

export class GenPool {
  private gens: Gen[] = [];

  /** At least `n` live generator processes. */
  get(n: number): Gen[] {
    this.gens = this.gens.filter((g) => g.alive);
    while (this.gens.length < n) {
      const index = this.gens.length;
      // taskset execs node with the IPC channel fd inherited.
      const pin = GEN_CORES !== null && TASKSET_PATH !== null ? { execPath: TASKSET_PATH, execArgv: ['-c', GEN_CORES, process.execPath] } : {};
      const child = fork(WORKER, [String(index + 1)], {
        ...pin,
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      track(child);
      this.gens.push(new Gen(index, child));
    }
    return this.gens.slice(0, n);
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.gens.filter((g) => g.alive).map((g) => g.close()));
  }

  stop(): void {
    for (const g of this.gens) g.child.kill('SIGKILL');
    this.gens = [];
  }
}
