import fs from 'node:fs';
import path from 'node:path';
import { SamlCertificates } from '../../../src/keys/saml-certificates.js';
import { DEFAULT_ATTRIBUTES } from '../../../src/saml/config.js';
import { idpEndpoints, type Signer } from '../../../src/saml/idp.js';
import type { ServiceProvider } from '../../../src/saml/service-providers.js';
import { parseSpMetadata } from '../../../src/saml/sp-metadata.js';
import { tempDir } from '../../helpers/poort.js';

export const ENTITY_ID = 'https://sp.example.test/saml';
export const ACS = 'https://sp.example.test/saml/acs';

/** Minimal SP metadata: one HTTP-POST ACS, optionally with a certificate for signing and encryption. */
export function spMetadataXml(certificatePem?: string): string {
  const key = certificatePem
    ? `<md:KeyDescriptor><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>${certificatePem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, '')}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`
    : '';
  return (
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${ENTITY_ID}">` +
    `<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${key}` +
    `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.test/saml/slo"/>` +
    `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${ACS}" index="0" isDefault="true"/>` +
    `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${ACS}/2" index="2"/>` +
    `</md:SPSSODescriptor></md:EntityDescriptor>`
  );
}

export function serviceProvider(xml = spMetadataXml()): ServiceProvider {
  return {
    entityId: ENTITY_ID,
    metadataXml: xml,
    metadata: parseSpMetadata(xml),
    settings: {
      nameIdFormat: 'persistent',
      attributes: DEFAULT_ATTRIBUTES,
      signAssertion: true,
      signResponse: false,
    },
    source: 'config',
    createdAt: '',
  };
}

/** A signer with a real certificate in a temporary keys folder; `cleanup` removes it. */
export async function testSigner(): Promise<{ signer: Signer; store: SamlCertificates; cleanup(): void }> {
  const dir = tempDir('poort-saml-unit-');
  const store = new SamlCertificates(path.join(dir, 'keys'));
  await store.ensure();
  return {
    signer: { certificate: store.active()! },
    store,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export const IDP = idpEndpoints('https://login.example.test', undefined);
