import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredAuditEvent } from '../../../src/audit/event.js';
import { AuditShipper } from '../../../src/audit/shipper.js';
import { sinkSchema, type FileSinkConfig } from '../../../src/audit/sinks/config.js';
import { FileSink } from '../../../src/audit/sinks/file.js';
import { openAuditFixture, sampleEvent, silentLogger, waitFor, type AuditFixture } from './fixture.js';

interface Doc {
  event: { id: string; sequence: number };
}

function fileConfig(input: Record<string, unknown>): FileSinkConfig {
  return sinkSchema.parse({ type: 'file', ...input }) as FileSinkConfig;
}

/** Every line of the file as JSON; throws on a line that does not parse. */
function readDocs(file: string): Doc[] {
  const text = fs.readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as Doc);
}

const mode = (file: string) => fs.statSync(file).mode & 0o777;

async function deliverAll(sink: FileSink, events: StoredAuditEvent[], batch: number) {
  for (let i = 0; i < events.length; i += batch) await sink.deliver(events.slice(i, i + batch));
}

describe('file sink', () => {
  let fx: AuditFixture;
  let events: StoredAuditEvent[];

  beforeAll(async () => {
    fx = await openAuditFixture();
    events = await fx.appendMany(120);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('writes one ECS document per line, rotating at max_bytes and keeping `keep` old files, all 0600', async () => {
    const dir = path.join(fx.dir, 'rotate', 'nested');
    const file = path.join(dir, 'poort-audit.jsonl');
    const previous = process.umask(0o022);
    const sink = new FileSink(fileConfig({ name: 'file', path: file, max_bytes: 8192, keep: 3 }));
    try {
      await deliverAll(sink, events, 7);
    } finally {
      process.umask(previous);
      await sink.close();
    }
    const names = fs.readdirSync(dir).sort();
    expect(names).toEqual([
      'poort-audit.jsonl',
      'poort-audit.jsonl.1',
      'poort-audit.jsonl.2',
      'poort-audit.jsonl.3',
    ]);
    const oldestFirst = [`${file}.3`, `${file}.2`, `${file}.1`, file];
    const docs: Doc[] = [];
    for (const f of oldestFirst) {
      expect(mode(f)).toBe(0o600);
      expect(fs.statSync(f).size).toBeLessThanOrEqual(8192);
      const lines = readDocs(f);
      expect(lines.length).toBeGreaterThan(0);
      docs.push(...lines);
    }
    // Each file was rotated only because the next line would not fit.
    for (let i = 0; i < 3; i++) {
      const nextLine = Buffer.byteLength(fs.readFileSync(oldestFirst[i + 1]!, 'utf8').split('\n')[0]!) + 1;
      expect(fs.statSync(oldestFirst[i]!).size + nextLine).toBeGreaterThan(8192);
    }
    // What is left is the newest events, contiguous and in order, ending at the last one.
    const seqs = docs.map((d) => d.event.sequence);
    const last = events[events.length - 1]!.seq;
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => last - seqs.length + 1 + i));
    expect(docs[docs.length - 1]!.event.id).toBe(events[events.length - 1]!.event.id);
  });

  it('keeps no old file with keep: 0, and a line larger than max_bytes gets a file of its own', async () => {
    const file = path.join(fx.dir, 'keep0', 'audit.jsonl');
    const sink = new FileSink(fileConfig({ name: 'keep0', path: file, max_bytes: 1024, keep: 0 }));
    const [big] = await fx.appendMany(1, (i) => ({ ...sampleEvent(i), details: { blob: 'y'.repeat(3000) } }));
    await sink.deliver(events.slice(0, 3));
    await sink.deliver([big!]);
    await sink.close();
    expect(fs.readdirSync(path.dirname(file))).toEqual(['audit.jsonl']);
    expect(readDocs(file).map((d) => d.event.id)).toEqual([big!.event.id]);
  });

  it('appends to an existing file, tightens its mode, and starts a new file when the old one was moved away', async () => {
    const file = path.join(fx.dir, 'existing', 'audit.jsonl');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, `${JSON.stringify({ event: { id: 'earlier', sequence: 0 } })}\n`, { mode: 0o644 });
    const sink = new FileSink(fileConfig({ name: 'existing', path: file }));
    await sink.deliver(events.slice(0, 2));
    expect(mode(file)).toBe(0o600);
    expect(readDocs(file).map((d) => d.event.id)).toEqual([
      'earlier',
      events[0]!.event.id,
      events[1]!.event.id,
    ]);
    fs.renameSync(file, `${file}.moved`); // as logrotate does
    await sink.deliver(events.slice(2, 4));
    await sink.close();
    expect(readDocs(`${file}.moved`)).toHaveLength(3);
    expect(readDocs(file).map((d) => d.event.id)).toEqual([events[2]!.event.id, events[3]!.event.id]);
    expect(mode(file)).toBe(0o600);
  });

  it('fails the batch when the file cannot be written, and delivers once it can', async () => {
    const blocker = path.join(fx.dir, 'blocked');
    fs.writeFileSync(blocker, 'not a folder');
    const file = path.join(blocker, 'audit.jsonl');
    const sink = new FileSink(fileConfig({ name: 'blocked', path: file }));
    await expect(sink.deliver(events.slice(0, 1))).rejects.toThrow();
    fs.rmSync(blocker);
    await sink.deliver(events.slice(0, 1));
    await sink.close();
    expect(readDocs(file)).toHaveLength(1);
  });

  it('gets the whole trail through the shipper', async () => {
    const file = path.join(fx.dir, 'shipped', 'audit.jsonl');
    const sink = new FileSink(fileConfig({ name: 'shipped', path: file }));
    const shipper = new AuditShipper({ audit: fx.audit, sinks: [sink], logger: silentLogger, batchSize: 50 });
    await shipper.start();
    const total = (await fx.audit.readAfter(0, 100_000)).length;
    const lineCount = () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').length - 1 : 0);
    await waitFor('the whole trail', () => lineCount() === total);
    await shipper.stop();
    expect(readDocs(file).map((d) => d.event.sequence)).toEqual(
      Array.from({ length: total }, (_, i) => i + 1),
    );
    expect(shipper.status()[0]).toMatchObject({ name: 'shipped', cursor: total, lag: 0, failing: false });
  });
});
