import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';

export interface FileWatch {
  close(): void;
}

/**
 * Calls `onChange` (debounced) when anything in the file's directory changes,
 * and on a slow poll as a safety net. The directory is watched, not the file:
 * ConfigMap and Secret volumes update by swapping a `..data` symlink, which
 * a watch on the old file never sees. Callers compare contents themselves.
 */
export function watchFile(path: string, onChange: () => void, options: { debounceMs?: number; pollMs?: number } = {}): FileWatch {
  let debounce: NodeJS.Timeout | undefined;
  const fire = (): void => {
    clearTimeout(debounce);
    debounce = setTimeout(onChange, options.debounceMs ?? 100);
    debounce.unref();
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), { persistent: false }, fire);
    watcher.on('error', () => undefined); // the poll keeps working
  } catch {
    // directory missing or not watchable: polling only
  }
  const poll = setInterval(fire, options.pollMs ?? 10_000);
  poll.unref();
  return {
    close(): void {
      watcher?.close();
      clearTimeout(debounce);
      clearInterval(poll);
    },
  };
}
