import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { children, NS, parseXml } from './saml-xml.js';

/** The path of the xmlsec1 binary; throws with the install command when it is missing. */
export function xmlsecBinary(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v xmlsec1'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('xmlsec1 is not installed: apt-get install -y xmlsec1');
  }
}

export interface XmlsecResult {
  ok: boolean;
  /** what xmlsec1 printed, or why the signature was not even tried */
  output: string;
}

/**
 * Verifies the enveloped signature of one element with xmlsec1, as an independent implementation: the root
 * (`Response`, `LogoutResponse`, …) or the `Assertion` (a child of a Response, or the root of a decrypted one).
 * The signature checked is the element's own direct child, and its one Reference must point at the element's
 * ID, so a valid signature elsewhere in the document cannot stand in for a missing one.
 */
export async function xmlsecVerify(
  xml: string,
  certificatePem: string,
  element: 'Response' | 'Assertion' | 'LogoutResponse' | 'LogoutRequest' | 'AuthnRequest',
): Promise<XmlsecResult> {
  const binary = xmlsecBinary();
  const doc = parseXml(xml);
  const root = doc.documentElement;
  const target =
    element === 'Assertion' && root.localName !== 'Assertion'
      ? children(root, NS.assertion, 'Assertion')[0]
      : root;
  if (!target || target.localName !== element) return { ok: false, output: `no ${element} element` };
  const signatures = children(target, NS.dsig, 'Signature');
  if (signatures.length !== 1)
    return { ok: false, output: `${element} has ${signatures.length} signatures, not one` };
  const references = Array.from(signatures[0]!.getElementsByTagNameNS(NS.dsig, 'Reference'));
  const id = target.getAttribute('ID');
  if (references.length !== 1 || references[0]!.getAttribute('URI') !== `#${id}`)
    return { ok: false, output: `the ${element}'s signature does not reference its ID ${id}` };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'poort-xmlsec-'));
  try {
    const file = path.join(dir, 'message.xml');
    const cert = path.join(dir, 'signer.pem');
    fs.writeFileSync(file, xml);
    fs.writeFileSync(cert, certificatePem);
    const namespace = element === 'Assertion' ? NS.assertion : NS.protocol;
    const parentPath =
      target === root
        ? `/*[local-name()='${element}']`
        : `/*[local-name()='${root.localName}']/*[local-name()='${element}']`;
    const args = [
      '--verify',
      '--enabled-key-data',
      'rsa',
      '--pubkey-cert-pem',
      cert,
      '--id-attr:ID',
      `${namespace}:${element}`,
      '--node-xpath',
      `${parentPath}/*[local-name()='Signature']`,
      file,
    ];
    return await new Promise((resolve) => {
      execFile(binary, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`;
        resolve({ ok: !err && /^OK$/m.test(output), output });
      });
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
