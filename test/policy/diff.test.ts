import { describe, expect, it } from 'vitest';
import { diffPolicies, summariseDiff } from '../../src/policy/diff.js';
import { parsePolicy } from '../../src/policy/schema.js';
import { ISSUE_EXAMPLE } from './fixture.js';

const spec = (text: string) => parsePolicy(text, 'test');
const example = spec(ISSUE_EXAMPLE);

describe('the difference between two policies', () => {
  it('names rules added, removed and changed, and networks changed', () => {
    const after = spec(
      ISSUE_EXAMPLE.replace('198.51.100.0/24', '198.51.100.0/25')
        .replace(
          '    when: { device: { type: [mobile, tablet], managed: false } }',
          '    when: { device: { type: [mobile], managed: false } }',
        )
        .replace(/ {2}- id: block-embargoed\n.*\n.*\n/, '')
        .replace(
          'default: allow',
          '  - { id: night, when: { hours: { from: "22:00", to: "06:00", time_zone: UTC } }, then: deny }\ndefault: deny',
        ),
    );
    const diff = diffPolicies(example, after);
    expect(diff).toEqual({
      rules: { added: ['night'], removed: ['block-embargoed'], changed: ['byod-mobile'] },
      networks: { added: [], removed: [], changed: ['vpn'] },
      applications: { added: [], removed: [], changed: [] },
      default: { from: 'allow', to: 'deny' },
      settings: [],
    });
    expect(summariseDiff(diff)).toBe(
      'rules added: night; rules removed: block-embargoed; rules changed: byod-mobile; networks changed: vpn; default: allow → deny',
    );
  });

  it('does not count order, comments or layout as a change', () => {
    const reordered = spec(
      `# reordered
networks: { vpn: [198.51.100.0/24], office: [192.0.2.0/24, "2001:db8:1::/48"] }
applications: { payroll: { classification: high } }
rules:
${ISSUE_EXAMPLE.slice(ISSUE_EXAMPLE.indexOf('  - id: outside-trusted-networks'), ISSUE_EXAMPLE.indexOf('default:'))}  - id: block-embargoed
    when: { country: { in: [kp, ir] } }
    then: deny
`,
    );
    expect(summariseDiff(diffPolicies(example, reordered))).toBe('no change');
  });

  it('counts everything as added against nothing, and names settings', () => {
    expect(summariseDiff(diffPolicies(undefined, example))).toBe(
      'rules added: block-embargoed, outside-trusted-networks, byod-mobile, sensitive-apps, impossible-travel; networks added: office, vpn; applications added: payroll; default: none → allow',
    );
    expect(
      diffPolicies(example, spec(`${ISSUE_EXAMPLE}impossible_travel: { max_speed_kmh: 1000 }\n`)).settings,
    ).toEqual(['impossible_travel']);
  });
});
