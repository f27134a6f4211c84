import { describe, expect, it } from 'vitest';
import {
  checkPassword,
  commonPasswords,
  describeViolation,
  type PasswordPolicy,
} from '../../src/directory/password-policy.js';

const policy: PasswordPolicy = {
  min_length: 12,
  max_length: 64,
  reject_common: true,
  reject_user_info: true,
};
const anna = { username: 'anna.devries', email: 'a.devries@example.org' };
const codes = (password: string, p = policy, user: { username: string; email?: string } = anna) =>
  checkPassword(password, user, p).map((v) => v.code);

describe('password policy', () => {
  it('accepts a long, uncommon passphrase', () => {
    expect(codes('correct horse battery staple')).toEqual([]);
  });

  it('refuses a password shorter than min_length, counting characters as typed', () => {
    expect(checkPassword('short pass!', anna, policy)).toEqual([{ code: 'too_short', min: 12 }]);
    expect(codes('abcdefghijkl')).toEqual([]);
    // Twelve code points, more UTF-16 units and bytes: long enough.
    expect(codes('🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑')).toEqual([]);
    expect(codes('🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑')).toEqual(['too_short']);
    // Decomposed accents count once, as the person typed them.
    expect(codes('e\u0301'.repeat(12))).toEqual([]);
  });

  it('refuses a password longer than max_length', () => {
    expect(checkPassword('x'.repeat(65) + ' uncommon', anna, policy)).toEqual([
      { code: 'too_long', max: 64 },
    ]);
    expect(codes('y'.repeat(64))).toEqual([]);
  });

  it('refuses a password from the shipped list of common passwords, whatever its case', () => {
    const lenient = { ...policy, min_length: 8 };
    expect(commonPasswords().has('password1')).toBe(true);
    expect(codes('password1', lenient)).toEqual(['common']);
    expect(codes('PassWord1', lenient)).toEqual(['common']);
    expect(codes('qwerty123456')).toEqual(['common']);
    expect(codes('qwerty123456', { ...policy, reject_common: false })).toEqual([]);
  });

  it('refuses a password that contains the username, the e-mail address or its local part', () => {
    expect(codes('my name is anna.devries!')).toEqual(['contains_user_info']);
    expect(codes('ANNA.DEVRIES-2030-spring')).toEqual(['contains_user_info']);
    expect(codes('mail me at a.devries@example.org')).toEqual(['contains_user_info']);
    expect(codes('a.devries rocks forever')).toEqual(['contains_user_info']);
    expect(codes('my name is anna.devries!', { ...policy, reject_user_info: false })).toEqual([]);
  });

  it('does not count very short user details, which would refuse half of all passwords', () => {
    expect(codes('a bee on the blossom tree', policy, { username: 'ab', email: 'ab@example.org' })).toEqual(
      [],
    );
  });

  it('reports every violation at once', () => {
    expect(codes('anna.devries', { ...policy, min_length: 16 })).toEqual(['too_short', 'contains_user_info']);
  });

  it('describes each violation in words', () => {
    expect(describeViolation({ code: 'too_short', min: 12 })).toBe(
      'the password must have at least 12 characters',
    );
    expect(describeViolation({ code: 'too_long', max: 64 })).toBe(
      'the password may have at most 64 characters',
    );
    expect(describeViolation({ code: 'common' })).toBe('the password is on the list of common passwords');
    expect(describeViolation({ code: 'contains_user_info' })).toBe(
      'the password must not contain the username or e-mail address',
    );
  });
});
