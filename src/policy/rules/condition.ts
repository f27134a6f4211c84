import type { PolicyContext } from '../types.js';
import { parseAddress, type Address } from './address.js';

/**
 * One attempt being decided: the context and what is derived from it once for every rule (the parsed address, the
 * application's classification).
 */
export class Evaluation {
  #address: Address | null | undefined;
  #classification: string | null | undefined;

  constructor(
    readonly ctx: PolicyContext,
    private readonly policy: { classificationOf(applicationId: string): string | undefined },
  ) {}

  /** null when the client address is not an IP address */
  get address(): Address | null {
    if (this.#address === undefined) this.#address = parseAddress(this.ctx.ip) ?? null;
    return this.#address;
  }

  get classification(): string | undefined {
    if (this.#classification === undefined)
      this.#classification = this.policy.classificationOf(this.ctx.application.id) ?? null;
    return this.#classification ?? undefined;
  }
}

/** A compiled condition of a rule's `when` or `unless`. */
export interface Condition {
  holds(e: Evaluation): boolean;
  /** why it holds or does not, in words, for the trace: "network 198.51.100.7 is not in office, vpn" */
  explain(e: Evaluation, held: boolean): string;
}

/** What conditions may refer to outside themselves: the named lists and settings at the top of the policy file. */
export interface CompileEnv {
  /** named networks: name → CIDR ranges */
  networks: ReadonlyMap<string, readonly string[]>;
  /** application id → classification */
  applications: ReadonlyMap<string, string>;
  impossibleTravel: { maxSpeedKmh: number; minDistanceKm: number };
  /** seconds a failed attempt counts when a condition names no window */
  failedAttemptsWindow: number;
}

/** `a, b, c` for a trace. */
export function listed(values: readonly string[]): string {
  return values.join(', ');
}
