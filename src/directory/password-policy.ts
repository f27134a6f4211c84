import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../paths.js';

export interface PasswordPolicy {
  min_length: number;
  max_length: number;
  reject_common: boolean;
  reject_user_info: boolean;
}

export type PasswordViolation =
  | { code: 'too_short'; min: number }
  | { code: 'too_long'; max: number }
  | { code: 'common' }
  | { code: 'contains_user_info' };

let common: Set<string> | undefined;

/** The list shipped in config/common-passwords.txt, loaded once. */
export function commonPasswords(): Set<string> {
  if (!common) {
    const text = fs.readFileSync(path.join(packageRoot, 'config', 'common-passwords.txt'), 'utf8');
    common = new Set(text.split('\n').filter((l) => l && !l.startsWith('#')));
  }
  return common;
}

/** Length counts Unicode code points, so a passphrase in any script is measured as the person typed it. */
export function checkPassword(
  password: string,
  user: { username: string; email?: string },
  policy: PasswordPolicy,
  commonList: ReadonlySet<string> = commonPasswords(),
): PasswordViolation[] {
  const violations: PasswordViolation[] = [];
  const length = [...password.normalize('NFC')].length;
  if (length < policy.min_length) violations.push({ code: 'too_short', min: policy.min_length });
  if (length > policy.max_length) violations.push({ code: 'too_long', max: policy.max_length });
  const lower = password.toLowerCase();
  if (policy.reject_common && commonList.has(lower)) violations.push({ code: 'common' });
  if (policy.reject_user_info) {
    const parts = [user.username, user.email, user.email?.split('@')[0]]
      .filter((p): p is string => typeof p === 'string' && p.length >= 3)
      .map((p) => p.toLowerCase());
    if (parts.some((p) => lower.includes(p))) violations.push({ code: 'contains_user_info' });
  }
  return violations;
}

export function describeViolation(v: PasswordViolation): string {
  switch (v.code) {
    case 'too_short':
      return `the password must have at least ${v.min} characters`;
    case 'too_long':
      return `the password may have at most ${v.max} characters`;
    case 'common':
      return 'the password is on the list of common passwords';
    case 'contains_user_info':
      return 'the password must not contain the username or e-mail address';
  }
}
