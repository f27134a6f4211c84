import crypto from 'node:crypto';
import type { Db } from '../store/database.js';
import type { DeviceTable } from '../store/schema.js';

/** A registered managed device: what proves it (its client certificate) and, optionally, whose it is. */
export interface Device {
  id: string;
  name: string;
  /** SHA-256 of the client certificate, lower-case hex without colons */
  certFingerprint: string;
  /** the owner's user id: the device is managed only for them; null: for anyone */
  ownerId: string | null;
  createdAt: string;
}

export class DeviceError extends Error {
  override readonly name = 'DeviceError';
  constructor(
    readonly code: 'not_found' | 'exists' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

const NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._:-]{0,127}$/u;

/**
 * A SHA-256 fingerprint as proxies and tools print it: 64 hex digits, upper or lower case, with or without colons
 * between the bytes (`openssl x509 -fingerprint -sha256`). Undefined when it is not one.
 */
export function normaliseFingerprint(value: string): string | undefined {
  const trimmed = value.trim();
  const hex = /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/i.test(trimmed) ? trimmed.replace(/:/g, '') : trimmed;
  return /^[0-9a-f]{64}$/i.test(hex) ? hex.toLowerCase() : undefined;
}

function toDevice(row: DeviceTable): Device {
  return {
    id: row.id,
    name: row.name,
    certFingerprint: row.cert_fingerprint,
    ownerId: row.owner_id,
    createdAt: row.created_at,
  };
}

/** The managed devices: a request is from one when it carries the device's client certificate (via a trusted proxy). */
export class DeviceRegistry {
  constructor(private readonly db: Db) {}

  async add(input: { name: string; certFingerprint: string; ownerId?: string | null }): Promise<Device> {
    const name = input.name.trim();
    if (!NAME.test(name))
      throw new DeviceError('invalid', 'a device name is letters, digits, space . _ : - (at most 128)');
    const fingerprint = normaliseFingerprint(input.certFingerprint);
    if (!fingerprint)
      throw new DeviceError(
        'invalid',
        'a certificate fingerprint is a SHA-256 in hex: 64 digits, colons optional',
      );
    const row: DeviceTable = {
      id: crypto.randomUUID(),
      name,
      cert_fingerprint: fingerprint,
      owner_id: input.ownerId ?? null,
      created_at: new Date().toISOString(),
    };
    const taken = await this.db
      .selectFrom('devices')
      .select(['name', 'cert_fingerprint'])
      .where((eb) => eb.or([eb('name', '=', name), eb('cert_fingerprint', '=', fingerprint)]))
      .executeTakeFirst();
    if (taken?.name === name) throw new DeviceError('exists', `device ${name} already exists`);
    if (taken) throw new DeviceError('exists', `device ${taken.name} has this certificate already`);
    await this.db.insertInto('devices').values(row).execute();
    return toDevice(row);
  }

  async list(): Promise<Device[]> {
    const rows = await this.db.selectFrom('devices').selectAll().orderBy('name').execute();
    return rows.map(toDevice);
  }

  async find(name: string): Promise<Device | undefined> {
    const row = await this.db
      .selectFrom('devices')
      .selectAll()
      .where('name', '=', name.trim())
      .executeTakeFirst();
    return row ? toDevice(row) : undefined;
  }

  async remove(name: string): Promise<Device> {
    const device = await this.find(name);
    if (!device) throw new DeviceError('not_found', `no device ${name.trim()}`);
    await this.db.deleteFrom('devices').where('id', '=', device.id).execute();
    return device;
  }

  /** Whether a certificate fingerprint (as the proxy sent it) belongs to a device managed for this user. */
  async isManagedFor(fingerprint: string, userId: string): Promise<boolean> {
    const normalised = normaliseFingerprint(fingerprint);
    if (!normalised) return false;
    const row = await this.db
      .selectFrom('devices')
      .select('owner_id')
      .where('cert_fingerprint', '=', normalised)
      .executeTakeFirst();
    return row !== undefined && (row.owner_id === null || row.owner_id === userId);
  }
}
