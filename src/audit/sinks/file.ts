import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { toEcs } from '../ecs.js';
import type { StoredAuditEvent } from '../event.js';
import type { FileSinkConfig } from './config.js';
import type { Sink } from './sink.js';

/**
 * JSON lines, one ECS document per line, in a file of mode 0600. When the next line would take the file past
 * `max_bytes` it is rotated: `x.jsonl` becomes `x.jsonl.1`, `.1` becomes `.2`, … and only `keep` rotated files stay.
 * Every batch is fsynced before `deliver` resolves. A file moved away by someone else (logrotate) is noticed and a
 * new one started.
 */
export class FileSink implements Sink {
  readonly name: string;
  readonly #path: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  #handle?: fsp.FileHandle;
  #ino = 0;
  /** bytes in the current file known to be whole lines and synced */
  #size = 0;

  constructor(config: FileSinkConfig) {
    this.name = config.name;
    this.#path = path.resolve(config.path);
    this.#maxBytes = config.max_bytes;
    this.#keep = config.keep;
  }

  async deliver(batch: StoredAuditEvent[]): Promise<void> {
    if (batch.length === 0) return;
    let handle = await this.#open();
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    try {
      for (const stored of batch) {
        const line = Buffer.from(`${JSON.stringify(toEcs(stored))}\n`, 'utf8');
        const size = this.#size + pendingBytes;
        if (size > 0 && size + line.length > this.#maxBytes) {
          await this.#flush(handle, pending);
          pending = [];
          pendingBytes = 0;
          handle = await this.#rotate();
        }
        pending.push(line);
        pendingBytes += line.length;
      }
      await this.#flush(handle, pending);
    } catch (err) {
      // Leave no half line behind: cut the file back to what was written whole and start afresh next time.
      await this.#handle?.truncate(this.#size).catch(() => {});
      await this.#release();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.#release();
  }

  async #flush(handle: fsp.FileHandle, lines: Buffer[]): Promise<void> {
    if (lines.length === 0) return;
    const data = Buffer.concat(lines);
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
    await handle.sync();
    this.#size += data.length;
  }

  /** The current file, opened (or created 0600) for appending; reopened when it was moved or removed. */
  async #open(): Promise<fsp.FileHandle> {
    if (this.#handle) {
      const onDisk = await fsp.stat(this.#path).catch(() => undefined);
      if (onDisk && onDisk.ino === this.#ino) return this.#handle;
      await this.#release();
    }
    await fsp.mkdir(path.dirname(this.#path), { recursive: true, mode: 0o700 });
    const handle = await fsp.open(
      this.#path,
      fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT,
      0o600,
    );
    try {
      await handle.chmod(0o600);
      const stat = await handle.stat();
      this.#ino = stat.ino;
      this.#size = stat.size;
    } catch (err) {
      await handle.close();
      throw err;
    }
    this.#handle = handle;
    return handle;
  }

  async #rotate(): Promise<fsp.FileHandle> {
    await this.#release();
    const rotated = (n: number) => `${this.#path}.${n}`;
    if (this.#keep === 0) {
      await fsp.rm(this.#path, { force: true });
    } else {
      await fsp.rm(rotated(this.#keep), { force: true });
      for (let n = this.#keep - 1; n >= 1; n--) {
        await fsp.rename(rotated(n), rotated(n + 1)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
      await fsp.rename(this.#path, rotated(1));
    }
    // Older files beyond `keep` (left by a larger setting before) go too.
    for (let n = this.#keep + 1; ; n++) {
      try {
        await fsp.rm(rotated(n));
      } catch {
        break;
      }
    }
    return this.#open();
  }

  async #release(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    this.#ino = 0;
    this.#size = 0;
    await handle?.close().catch(() => {});
  }
}
