/**
 * The contract between the context builder (I/O: look-ups per attempt) and the policy engine (pure). Everything
 * `decide` needs is in `PolicyContext`; it reads no clock, file or store of its own.
 */

export type DeviceType = 'mobile' | 'tablet' | 'desktop';
export type MfaStrength = 'any' | 'totp' | 'phishing_resistant';

export interface GeoPoint {
  lat: number;
  lon: number;
}

export interface PolicyContext {
  /** the client address (X-Forwarded-For only from trusted proxies) */
  ip: string;
  /** ISO 3166 alpha-2, or 'unknown' for private, loopback and unlisted addresses */
  country: string;
  /** where the address is, when known (for impossible travel) */
  location?: GeoPoint;
  device: {
    type: DeviceType;
    os?: string;
    /** carries proof registered to a managed device (client certificate via a trusted proxy) */
    managed: boolean;
    /** this browser has a valid remembered-device cookie for this user */
    known: boolean;
  };
  application: { id: string; protocol: 'oidc' | 'saml' };
  user: { id: string; username: string; groups: string[] };
  /** epoch milliseconds of the attempt */
  now: number;
  /** the previous successful sign-in of this user, for impossible travel */
  previous?: { at: number; location?: GeoPoint; country: string };
  /** epoch milliseconds of this user's recent failed attempts (newest last) */
  failures: number[];
}

export type Outcome =
  | { kind: 'allow' }
  | { kind: 'deny'; message?: string }
  | { kind: 'mfa'; strength: MfaStrength; /** seconds */ maxAge?: number };

export interface TraceEntry {
  rule: string;
  matched: boolean;
  /** which condition decided, in words: "network 198.51.100.7 is not in office, vpn" */
  why: string;
  reportOnly: boolean;
}

export interface Decision {
  /** the strictest outcome of every enforced rule that matched, or the default */
  outcome: Outcome;
  /** ids of the enforced rules that matched (empty: the default applied) */
  rules: string[];
  /** report-only rules that matched, with what they would have required */
  reportOnly: Array<{ rule: string; outcome: Outcome }>;
  trace: TraceEntry[];
}
