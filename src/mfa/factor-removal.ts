import { subject, type Change } from '../audit/recorded.js';
import type { FactorRecord } from './factor.js';

/** The events of removed second factors (each by kind, id and name) and of removed recovery codes (their count). */
export function factorRemovalChanges(
  user: { id: string; username: string },
  records: readonly FactorRecord[],
  recoveryCodes: number,
): Change[] {
  const changes: Change[] = records.map((f) => ({
    action: 'mfa.removed',
    subject: subject(user),
    details: { factor: f.kind, factor_id: f.id, name: f.name },
  }));
  if (recoveryCodes > 0)
    changes.push({
      action: 'mfa.removed',
      subject: subject(user),
      details: { factor: 'recovery_code', count: recoveryCodes },
    });
  return changes;
}
