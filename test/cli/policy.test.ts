import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPolicyFile } from '../../src/policy/load.js';
import { countryOf } from '../../src/policy/source.js';
import { createSandbox, type Sandbox } from '../helpers/cli.js';
import { ISSUE_EXAMPLE } from '../policy/fixture.js';

const DESKTOP =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
/** An address geoip-lite places in North Korea (checked below). */
const NORTH_KOREA = '175.45.176.1';

// Each test runs the CLI several times; allow for a slow, busy machine.
describe('poort policy', { timeout: 60_000 }, () => {
  let box: Sandbox;
  let issueFile: string;
  let changedFile: string;
  let brokenFile: string;
  const policyEvents = async () =>
    (
      await box.withDb((db) =>
        db
          .selectFrom('audit_events')
          .select('event')
          .where('action', '=', 'policy.changed')
          .orderBy('seq')
          .execute(),
      )
    ).map((r) => JSON.parse(r.event) as Record<string, unknown> & { details: Record<string, unknown> });
  const versions = async () =>
    (await box.withDb((db) => db.selectFrom('policy_versions').select('version').execute())).length;

  beforeAll(() => {
    box = createSandbox();
    issueFile = path.join(box.dir, 'issue.yaml');
    fs.writeFileSync(issueFile, ISSUE_EXAMPLE);
    changedFile = path.join(box.dir, 'changed.yaml');
    fs.writeFileSync(
      changedFile,
      ISSUE_EXAMPLE.replace('vpn: [198.51.100.0/24]', 'vpn: [198.51.100.0/25]')
        .replace(/ {2}- id: impossible-travel\n(.*\n){3}/, '')
        .replace('max_age: 8h', 'max_age: 4h'),
    );
    brokenFile = path.join(box.dir, 'broken.yaml');
    fs.writeFileSync(brokenFile, ISSUE_EXAMPLE.replace('[mobile, tablet]', '[phone, tablet]'));
  });
  afterAll(() => box.remove());

  it('validates a policy file', async () => {
    const valid = await box.run(['policy', 'validate', '--file', 'issue.yaml']);
    expect(valid.stderr).toBe('');
    expect(valid.code).toBe(0);
    expect(valid.stdout).toBe('valid: 5 rules (1 report-only)\n');
    const broken = await box.run(['policy', 'validate', '--file', 'broken.yaml']);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toBe('');
    expect(broken.stderr).toBe(
      `poort: ${brokenFile}: rules[2] (id "byod-mobile"): when.device.type[0]: expected one of mobile, tablet, desktop, got "phone" (line 14)\n`,
    );
    const missing = await box.run(['policy', 'validate', '--file', 'nope.yaml']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `poort: ${path.join(box.dir, 'nope.yaml')}: cannot read the policy file: ENOENT\n`,
    );
    expect((await box.run(['policy', 'validate'])).code).toBe(2);
  });

  it('shows the shipped policy file while no version is stored', async () => {
    const [show, history] = await Promise.all([box.run(['policy', 'show']), box.run(['policy', 'history'])]);
    expect(show.code).toBe(0);
    expect(show.stdout).toBe(
      `# policy file ${defaultPolicyFile} (in force; no version stored yet)\n${fs.readFileSync(defaultPolicyFile, 'utf8')}`,
    );
    expect(history.stdout).toBe(`No versions stored; the policy file is in force: ${defaultPolicyFile}.\n`);
  });

  it('sets versions, lists them and rolls back, each change audited with the CLI as actor and what changed', async () => {
    const first = await box.run(['policy', 'set', '--file', 'issue.yaml']);
    expect(first.stderr).toBe('');
    expect(first.stdout).toBe(
      'Stored policy version 1 (5 rules): rules added: block-embargoed, outside-trusted-networks, byod-mobile, sensitive-apps, impossible-travel; networks added: office, vpn; applications added: payroll\n',
    );
    const again = await box.run(['policy', 'set', '--file', 'issue.yaml']);
    expect(again.stdout).toBe('No change: the newest version is the same text\n');

    const second = await box.run(['policy', 'set', '--file', 'changed.yaml']);
    expect(second.stdout).toBe(
      'Stored policy version 2 (4 rules): rules removed: impossible-travel; rules changed: sensitive-apps; networks changed: vpn\n',
    );

    const shown = await box.run(['policy', 'show']);
    expect(shown.stdout).toMatch(/^# policy version 2 \(in force\), set \d{4}-\d\d-\d\dT[\d:.]+Z by \S+/);
    expect(shown.stdout.slice(shown.stdout.indexOf('\n') + 1)).toBe(fs.readFileSync(changedFile, 'utf8'));
    const old = await box.run(['policy', 'show', '1']);
    expect(old.stdout.slice(old.stdout.indexOf('\n') + 1)).toBe(ISSUE_EXAMPLE);

    const rollback = await box.run(['policy', 'rollback', '1']);
    expect(rollback.stderr).toBe('');
    expect(rollback.stdout).toBe(
      'Stored policy version 3: rollback to version 1: rules added: impossible-travel; rules changed: sensitive-apps; networks changed: vpn\n',
    );
    const back = await box.run(['policy', 'show']);
    expect(back.stdout).toMatch(/^# policy version 3 \(in force\)/);
    expect(back.stdout.slice(back.stdout.indexOf('\n') + 1)).toBe(ISSUE_EXAMPLE);

    const history = await box.run(['policy', 'history']);
    const lines = history.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^VERSION\s+SET\s+BY\s+SUMMARY$/);
    expect(lines.slice(1, 4).map((l) => l.split(/\s+/)[0])).toEqual(['1', '2', '3*']);
    expect(lines[3]).toContain('rollback to version 1: rules added: impossible-travel');
    expect(lines.at(-1)).toBe('* in force');
    const json = JSON.parse((await box.run(['policy', 'history', '--json'])).stdout) as Array<
      Record<string, unknown>
    >;
    expect(json.map((v) => v.version)).toEqual([1, 2, 3]);
    expect(json[0]).toMatchObject({
      createdBy: os.userInfo().username,
      summary: expect.stringContaining('rules added'),
    });
    expect(json[0]).not.toHaveProperty('text');

    const events = await policyEvents();
    expect(events).toHaveLength(3);
    for (const event of events) {
      expect(event).toMatchObject({
        outcome: 'success',
        actor: { type: 'cli', name: os.userInfo().username },
      });
    }
    expect(events[0]!.details).toMatchObject({
      version: 1,
      previous: defaultPolicyFile,
      rules: {
        added: [
          'block-embargoed',
          'outside-trusted-networks',
          'byod-mobile',
          'sensitive-apps',
          'impossible-travel',
        ],
        removed: [],
        changed: [],
      },
      networks: { added: ['office', 'vpn'], removed: [], changed: [] },
    });
    expect(events[1]!.details).toMatchObject({
      version: 2,
      previous: 1,
      summary: 'rules removed: impossible-travel; rules changed: sensitive-apps; networks changed: vpn',
      rules: { added: [], removed: ['impossible-travel'], changed: ['sensitive-apps'] },
      networks: { changed: ['vpn'] },
    });
    expect(events[2]!.details).toMatchObject({ version: 3, previous: 2, rollback_to: 1 });
  });

  it('refuses a broken file or an unknown version, storing and auditing nothing', async () => {
    const before = await versions();
    const broken = await box.run(['policy', 'set', '--file', 'broken.yaml']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(
      'rules[2] (id "byod-mobile"): when.device.type[0]: expected one of mobile',
    );
    const unknown = await box.run(['policy', 'rollback', '9']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('poort: no policy version 9 (see "poort policy history")\n');
    expect((await box.run(['policy', 'show', '0'])).code).toBe(2);
    expect(await versions()).toBe(before);
    expect(await policyEvents()).toHaveLength(3);
  });

  describe('test (what-if) with the policy of issue 5', () => {
    const whatIf = (args: string[]) =>
      box.run(['policy', 'test', '--user', 'alice', '--time', '2026-06-15T10:00:00Z', ...args]);

    beforeAll(async () => {
      const added = await box.run([
        'user',
        'add',
        'alice',
        '--email',
        'alice@example.org',
        '--groups',
        'staff',
      ]);
      expect(added.code).toBe(0);
    });

    it('uses an address geoip-lite places in an embargoed country', () => {
      expect(countryOf(NORTH_KOREA)).toBe('KP');
      expect(countryOf('145.97.39.155')).toBe('NL');
    });

    it('allows a desktop in the office', async () => {
      const result = await whatIf(['--ip', '192.0.2.10', '--user-agent', DESKTOP]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^decision:\s+allow$/m);
      expect(result.stdout).toMatch(/^because:\s+no enforced rule matched: the default$/m);
      expect(result.stdout).toMatch(/^policy:\s+version 3$/m);
      expect(result.stdout).toMatch(/^address:\s+192\.0\.2\.10 \(networks: office; country: unknown\)$/m);
      expect(result.stdout).toMatch(/^user:\s+alice \(groups: staff\)$/m);
      expect(result.stdout).toMatch(/^device:\s+desktop, Windows; managed: no; known: no$/m);
      expect(result.stdout).toMatch(/^history:\s+no previous sign-in; 0 recent failed attempts$/m);
      expect(result.stdout).toMatch(/^RULE\s+MODE\s+MATCHED\s+WHY$/m);
      expect(result.stdout).toMatch(
        /^outside-trusted-networks\s+enforce\s+no\s+network 192\.0\.2\.10 is in office, vpn$/m,
      );
    });

    it('asks for a second factor from a Dutch address outside the office', async () => {
      const result = await whatIf(['--ip', '145.97.39.155', '--user-agent', DESKTOP]);
      expect(result.stdout).toMatch(/^decision:\s+mfa any$/m);
      expect(result.stdout).toMatch(/^because:\s+outside-trusted-networks$/m);
      expect(result.stdout).toMatch(/country: NL\)$/m);
      expect(result.stdout).toMatch(
        /^outside-trusted-networks\s+enforce\s+yes\s+network 145\.97\.39\.155 is not in office, vpn$/m,
      );
    });

    it('denies an address in an embargoed country', async () => {
      const result = await whatIf(['--ip', NORTH_KOREA, '--user-agent', DESKTOP]);
      expect(result.stdout).toMatch(/^decision:\s+deny$/m);
      expect(result.stdout).toMatch(/^because:\s+block-embargoed, outside-trusted-networks$/m);
      expect(result.stdout).toMatch(/^block-embargoed\s+enforce\s+yes\s+country KP is in KP, IR$/m);
    });

    it('asks a personal phone for a second factor, not a managed one', async () => {
      const byod = await whatIf(['--ip', '192.0.2.10', '--user-agent', IPHONE]);
      expect(byod.stdout).toMatch(/^decision:\s+mfa any$/m);
      expect(byod.stdout).toMatch(/^because:\s+byod-mobile$/m);
      expect(byod.stdout).toMatch(/^device:\s+mobile, iOS; managed: no; known: no$/m);
      const managed = await whatIf([
        '--ip',
        '192.0.2.10',
        '--user-agent',
        IPHONE,
        '--managed',
        '--known-device',
      ]);
      expect(managed.stdout).toMatch(/^decision:\s+allow$/m);
      expect(managed.stdout).toMatch(/^device:\s+mobile, iOS; managed: yes; known: yes$/m);
    });

    it('asks for a fresh phishing-resistant factor for payroll, as JSON', async () => {
      const result = await whatIf([
        '--ip',
        '2001:db8:1::10',
        '--user-agent',
        DESKTOP,
        '--app',
        'payroll',
        '--json',
      ]);
      expect(result.code).toBe(0);
      const out = JSON.parse(result.stdout) as {
        policy: string;
        networks: string[];
        classification: string;
        context: Record<string, unknown>;
        decision: {
          outcome: unknown;
          rules: string[];
          trace: Array<{ rule: string; matched: boolean; why: string }>;
        };
      };
      expect(out.policy).toBe('version 3');
      expect(out.networks).toEqual(['office']);
      expect(out.classification).toBe('high');
      expect(out.context).toMatchObject({
        ip: '2001:db8:1::10',
        country: 'unknown',
        application: { id: 'payroll', protocol: 'oidc' },
        user: { username: 'alice', groups: ['staff'] },
        now: Date.parse('2026-06-15T10:00:00Z'),
        failures: [],
      });
      expect(out.decision.outcome).toEqual({ kind: 'mfa', strength: 'phishing_resistant', maxAge: 28800 });
      expect(out.decision.rules).toEqual(['sensitive-apps']);
      expect(out.decision.trace.map((t) => t.rule)).toHaveLength(5);
      expect(out.decision.trace[3]).toEqual({
        rule: 'sensitive-apps',
        matched: true,
        why: 'application payroll is classified high',
        reportOnly: false,
      });
    });

    it('tries a policy file that is not in force', async () => {
      fs.writeFileSync(path.join(box.dir, 'strict.yaml'), 'default: deny\n');
      const result = await whatIf(['--ip', '192.0.2.10', '--file', 'strict.yaml']);
      expect(result.stdout).toMatch(/^decision:\s+deny$/m);
      expect(result.stdout).toContain(`\npolicy:    ${path.join(box.dir, 'strict.yaml')}\n`);
      expect(result.stdout).toContain('No rules: the default decides.');
    });

    it('refuses unknown users and addresses that are not addresses', async () => {
      const nobody = await box.run(['policy', 'test', '--user', 'nobody', '--ip', '192.0.2.1']);
      expect(nobody.code).toBe(1);
      expect(nobody.stderr).toBe('poort: no user nobody\n');
      const badIp = await whatIf(['--ip', 'office']);
      expect(badIp.code).toBe(2);
      expect(badIp.stderr).toContain('--ip: expected an IPv4 or IPv6 address, got "office"');
      const badTime = await whatIf(['--ip', '192.0.2.1', '--time', 'teatime']);
      expect(badTime.code).toBe(2);
      expect(badTime.stderr).toContain('--time: expected an ISO 8601 time');
    });
  });
});
