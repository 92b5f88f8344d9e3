import type { IncomingHttpHeaders } from 'node:http';

/**
 * Requests with a large body are the ones that cost memory (the body is
 * held whole, then parsed) and that keep the event loop for tens of
 * milliseconds. Ordinary pods are 5–20 KiB and never wait here.
 */
export const LARGE_REQUESTS = {
  /** A body larger than this by Content-Length (or of unknown length) is large. */
  minBytes: 64 * 1024,
  /** Large requests read and handled at once; more wait, unread (docs/performance.md sizes memory on this). */
  maxInFlight: 4,
} as const;

export function hasLargeBody(headers: IncomingHttpHeaders): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  return Number(headers['content-length'] ?? 0) > LARGE_REQUESTS.minBytes;
}

/**
 * A fixed number of slots, handed out in arrival order. While a request
 * waits for one, nothing reads its body: Node stops reading a socket whose
 * request nobody consumes, so TCP holds the rest of it.
 */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  /**
   * Calls `start` once a slot is free (at once if one is). The function
   * returned gives the slot back, or leaves the queue if `start` was not
   * called yet; calls after the first do nothing.
   */
  take(start: () => void): () => void {
    let state: 'waiting' | 'running' | 'done' = 'waiting';
    const run = (): void => {
      state = 'running';
      start();
    };
    if (this.free > 0) {
      this.free--;
      run();
    } else {
      this.waiting.push(run);
    }
    return () => {
      if (state === 'running') this.handOn();
      else if (state === 'waiting') this.waiting.splice(this.waiting.indexOf(run), 1);
      state = 'done';
    };
  }

  private handOn(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/**
 * Runs jobs one per turn of the event loop, in order: between two large
 * parses, the requests that arrived meanwhile are read and answered.
 */
export class OneTurnEach {
  private readonly jobs: (() => void)[] = [];
  private scheduled = false;

  run(job: () => void): void {
    this.jobs.push(job);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.jobs.length === 0) return;
    this.scheduled = true;
    // An immediate queued while immediates run waits for the next turn, after its I/O.
    setImmediate(() => {
      this.scheduled = false;
      try {
        this.jobs.shift()?.();
      } finally {
        this.schedule();
      }
    });
  }
}
