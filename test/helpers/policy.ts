import { parsePolicy } from '../../src/policy/schema.js';
import { storePolicyVersion } from '../../src/policy/versions.js';
import type { TestPoort } from './poort.js';

/** Puts `text` in force as the next stored version of the sign-in policy, as `poort policy set` does. */
export async function setPolicy(poort: TestPoort, text: string): Promise<void> {
  await storePolicyVersion(
    poort.services,
    { type: 'cli', name: 'test' },
    text,
    parsePolicy(text, 'test'),
    (s) => s,
  );
}
