import express, { type Request } from 'express';
import type Provider from 'oidc-provider';
import { correlationId } from '../audit/event.js';
import { describeSource } from '../policy/source.js';
import { applicationOf } from '../saml/client.js';
import type { AttemptContext } from './flow.js';

/** Helpers shared by the sign-in pages: the pending interaction, form parsing and the attempt's context. */
export type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 10 });

export function attemptContext(req: Request, interaction: Interaction): AttemptContext {
  return {
    source: describeSource(req.ip ?? '', req.headers),
    // oidc-provider checked the service provider's binding to this request (SpBinding) before it kept the params
    application: applicationOf(interaction.params),
    correlation: correlationId(interaction.uid),
  };
}

export function field(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

/** Whether the user ticked "Remember this device" on the second-factor form this request posted. */
export function rememberAsked(req: Request): boolean {
  return req.method === 'POST' && field(req.body, 'remember_device') === 'yes';
}
