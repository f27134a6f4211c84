import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditMaintenance } from '../../src/audit/maintenance.js';
import { AUDIT_LEASE } from '../../src/audit/shipper.js';
import type { KeyValueStore } from '../../src/store/kv.js';
import { Lease } from '../../src/store/lease.js';
import { openTestKeyValueStore } from '../helpers/backend.js';
import { openAuditFixture, silentLogger, type AuditFixture } from './sinks/fixture.js';

const DAY_S = 86_400;

/** Two nodes' housekeeping of one trail, each with its own lease object on one shared key-value store. */
describe('audit maintenance on several nodes', () => {
  let fx: AuditFixture;
  let kv: KeyValueStore;
  let closeOther: () => Promise<void>;
  let nodes: AuditMaintenance[];
  let archiveDirs: string[];

  beforeEach(async () => {
    fx = await openAuditFixture();
    kv = await openTestKeyValueStore(path.join(fx.dir, 'kv'));
    const other = await fx.openOther();
    closeOther = other.close;
    archiveDirs = ['A', 'B'].map((n) => path.join(fx.dir, `archive-${n}`));
    nodes = [fx.audit, other.audit].map(
      (audit, i) =>
        new AuditMaintenance(
          audit,
          fx.db,
          fx.keys,
          { checkpointInterval: 60, retention: DAY_S, archiveDir: archiveDirs[i]!, sinkNames: [] },
          silentLogger,
          new Lease(kv, AUDIT_LEASE, { holder: `node-${i}` }),
        ),
    );
  });

  afterEach(async () => {
    await closeOther();
    await kv.close();
    await fx.close();
  });

  const checkpoints = async () =>
    (await fx.db.selectFrom('audit_checkpoints').select('seq').execute()).map((r) => r.seq);

  it('signs checkpoints on the node holding the lease only', async () => {
    await fx.appendMany(5);
    await nodes[0]!.checkpoint();
    expect(await checkpoints()).toHaveLength(1);
    await fx.appendMany(2);
    await nodes[1]!.checkpoint(); // B does not hold the lease: A signs this head at its next turn
    expect(await checkpoints()).toHaveLength(1);
    await nodes[0]!.checkpoint();
    expect(await checkpoints()).toHaveLength(2);
  });

  it('archives and prunes once: one archive holds each pruned event', async () => {
    const appended = await fx.appendMany(12);
    // ten days on, with one day kept: everything is due
    const later = Date.now() + 10 * DAY_S * 1000;
    const summaries = await Promise.all(nodes.map((n) => n.applyRetention(later)));
    expect(summaries.filter(Boolean)).toHaveLength(1);
    expect(summaries.find(Boolean)).toMatchObject({
      first_seq: appended[0]!.seq,
      last_seq: appended[11]!.seq,
    });
    const files = archiveDirs.flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d) : []));
    expect(files).toHaveLength(1);
    const archived = await fx.audit.query({ action: 'audit.archived' });
    expect(archived).toHaveLength(1);
    expect(await fx.audit.verify()).toMatchObject({ ok: true });
  });

  it('signs the head at shutdown on every node, holding the lease or not', async () => {
    await fx.appendMany(3);
    await nodes[0]!.checkpoint(); // node A holds the lease from here on
    await fx.appendMany(1);
    await nodes[1]!.stop();
    expect(await checkpoints()).toHaveLength(2);
    await nodes[0]!.stop();
  });
});
