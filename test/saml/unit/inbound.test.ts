import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  MAX_MESSAGE_BYTES,
  parseMessage,
  Refusal,
  resolveAcs,
} from '../../../src/saml/inbound.js';
import { ACS, serviceProvider } from './fixtures.js';

const reason = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof Refusal ? err.reason : `not a refusal: ${String(err)}`;
  }
  return 'accepted';
};
const asyncReason = async (fn: () => Promise<unknown>) => {
  try {
    await fn();
  } catch (err) {
    return err instanceof Refusal ? err.reason : `not a refusal: ${String(err)}`;
  }
  return 'accepted';
};

describe('decoding inbound SAML messages', () => {
  it('refuses what is not base64', () => {
    expect(
      reason(() => decodeMessage({ binding: 'post', param: 'SAMLRequest', encoded: 'not base64!' })),
    ).toBe('malformed_base64');
  });

  it('stops a deflate bomb at the inflated cap', () => {
    const bomb = zlib.deflateRawSync(Buffer.alloc(50 * MAX_MESSAGE_BYTES, 0x20)).toString('base64');
    expect(reason(() => decodeMessage({ binding: 'redirect', param: 'SAMLRequest', encoded: bomb }))).toBe(
      'message_too_large',
    );
  });

  it('refuses data that does not inflate', () => {
    const junk = Buffer.from('definitely not deflate data').toString('base64');
    expect(reason(() => decodeMessage({ binding: 'redirect', param: 'SAMLRequest', encoded: junk }))).toBe(
      'inflate_failed',
    );
  });

  it('refuses a DTD before parsing it, and XML that is not well-formed', async () => {
    const xxe =
      '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:AuthnRequest>';
    expect(await asyncReason(() => parseMessage(xxe, ['AuthnRequest']))).toBe('dtd_not_allowed');
    expect(await asyncReason(() => parseMessage('<a><b></a>', ['AuthnRequest']))).toBe('invalid_xml');
  });

  it('takes the ACS from the metadata only: by URL, by index, or the default', () => {
    const sp = serviceProvider();
    expect(resolveAcs(sp, {}, ACS)).toBe(ACS);
    expect(resolveAcs(sp, { acsUrl: `${ACS}/2` }, ACS)).toBe(`${ACS}/2`);
    expect(resolveAcs(sp, { acsIndex: 2 }, ACS)).toBe(`${ACS}/2`);
    expect(reason(() => resolveAcs(sp, { acsUrl: 'https://evil.example/acs' }, ACS))).toBe(
      'acs_not_in_metadata',
    );
    expect(reason(() => resolveAcs(sp, { acsIndex: 7 }, ACS))).toBe('acs_not_in_metadata');
    expect(
      reason(() =>
        resolveAcs(sp, { protocolBinding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact' }, ACS),
      ),
    ).toBe('unsupported_binding');
  });
});
