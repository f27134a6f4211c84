import { generateKeyPairSync, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[1]);

/** A key pair with a self-signed certificate, as a service provider publishes in its metadata. */
export interface KeyAndCertificate {
  /** PKCS#8 PEM */
  privateKey: string;
  /** X.509 PEM */
  certificate: string;
}

const RSA_SHA256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

/**
 * A fresh 2048-bit RSA key and a self-signed certificate for it, valid from yesterday for a year; with
 * `ipAddresses`, a TLS server's certificate for them (subjectAltName), which a client may trust as its own CA.
 */
export async function selfSignedCertificate(
  commonName: string,
  options: { ipAddresses?: string[] } = {},
): Promise<KeyAndCertificate> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const keys = {
    privateKey: await webcrypto.subtle.importKey(
      'pkcs8',
      privateKey.export({ type: 'pkcs8', format: 'der' }),
      RSA_SHA256,
      false,
      ['sign'],
    ),
    publicKey: await webcrypto.subtle.importKey(
      'spki',
      publicKey.export({ type: 'spki', format: 'der' }),
      RSA_SHA256,
      true,
      ['verify'],
    ),
  };
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8)
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 365 * 86_400_000),
    signingAlgorithm: RSA_SHA256,
    keys: keys as unknown as CryptoKeyPairLike,
    ...(options.ipAddresses
      ? {
          extensions: [
            new x509.BasicConstraintsExtension(true, undefined, true),
            new x509.SubjectAlternativeNameExtension(
              options.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
            ),
          ],
        }
      : {}),
  });
  return { privateKey: privatePem, certificate: cert.toString('pem') };
}

type CryptoKeyPairLike = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];

/** The certificate's body without PEM armour or line breaks, as metadata carries it in ds:X509Certificate. */
export function certificateBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

/** A base64 certificate body (from metadata) as PEM. */
export function certificatePem(body: string): string {
  const clean = body.replace(/\s+/g, '');
  const lines = clean.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** Whether two certificates (PEM or bare base64) are the same certificate. */
export function sameCertificate(a: string, b: string): boolean {
  const der = (s: string) => new X509Certificate(s.includes('BEGIN') ? s : certificatePem(s)).raw;
  return der(a).equals(der(b));
}
