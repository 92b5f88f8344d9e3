import type { Logger } from 'pino';

interface Owned {
  readonly name: string;
  readonly stop: () => void | Promise<void>;
}

/**
 * The owner of everything `serve` starts: each resource is recorded with its
 * stop the moment it has started, and `stopAll()` stops them in reverse
 * order, once. The same teardown runs when a later step of the start fails
 * and on SIGTERM, so a failed start leaves no listener, watch or timer
 * behind, and a shutdown never stops a cache while a listener still uses it.
 *
 * Adding a resource is two lines where it is started: start it, then own it.
 *
 * ```ts
 * const writer = resources.own('audit writer', new AuditWriter(options), (w) => w.stop());
 * writer.start();
 * ```
 *
 * Start order is therefore teardown order, reversed: whatever a resource
 * uses must be owned before it (the API client before the informers, the
 * informers before the listener that answers from them). Work that must
 * happen first at shutdown (readiness false, the drain delay) is owned last.
 */
export class Resources {
  private readonly owned: Owned[] = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly log: Logger) {}

  /** Records `stop` for `value`, which has just been started (or built to be started), and returns it. */
  own<T>(name: string, value: T, stop: (value: T) => void | Promise<void>): T {
    if (this.stopping) throw new Error(`${name} was started after teardown began`);
    this.owned.push({ name, stop: () => stop(value) });
    return value;
  }

  /** Runs every recorded stop once, last started first. A stop that fails is logged; the others still run. */
  stopAll(): Promise<void> {
    this.stopping ??= (async () => {
      for (const { name, stop } of this.owned.reverse()) {
        this.log.debug({ resource: name }, 'stopping');
        try {
          await stop();
        } catch (err) {
          this.log.error({ err, resource: name }, 'stopping a resource failed');
        }
      }
    })();
    return this.stopping;
  }
}
