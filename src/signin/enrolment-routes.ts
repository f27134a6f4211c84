import express, { type Request, type Response, type Router } from 'express';
import type { AuditLog } from '../audit/log.js';
import type { Identity } from '../directory/identity.js';
import { cidrMatcher } from '../http/cidr.js';
import { csrfToken, verifyCsrfToken } from '../http/csrf.js';
import { renderPage, type PageContext } from '../http/render.js';
import { FACTOR_STRENGTH, type EnrolContext, type FactorKind, type SecondFactor } from '../mfa/factor.js';
import { EnrolmentCodes } from '../mfa/enrolment-codes.js';
import { PendingEnrolments, type PendingEnrolment } from '../mfa/pending-enrolment.js';
import { acrFor, satisfies, type Requirement } from '../mfa/strength.js';
import type { Services } from '../server/services.js';
import type { KeyValueStore } from '../store/kv.js';
import type { PendingSecondFactor, SignInFlow } from './flow.js';
import { field, rememberAsked, type Interaction } from './request.js';
import type { StepRouteDeps } from './routes.js';
import { Throttle } from './throttle.js';

/** The helpdesk's one-time enrolment codes, as far as the sign-in needs them. */
export interface EnrolmentCodeCheck {
  redeem(userId: string, code: string): Promise<boolean>;
}

/** What let this attempt enrol: the network it comes from, or an enrolment code from the helpdesk. */
export type EnrolmentReason = 'network' | 'enrolment_code';

/**
 * Where an attempt without a usable factor stands: it may enrol (and why), it may after an enrolment code, it has a
 * usable factor after all (back to the second-factor page), or it is refused.
 */
export type Standing =
  | { kind: 'allowed'; reason: EnrolmentReason }
  | { kind: 'needs_code' }
  | { kind: 'has_factor' }
  | { kind: 'refused' };

export interface SignInEnrolmentOptions {
  flow: SignInFlow;
  kv: KeyValueStore;
  audit: AuditLog;
  throttle: Throttle;
  pending: PendingEnrolments;
  codes: EnrolmentCodeCheck;
  /** mfa.enrolment_at_signin */
  networks: readonly string[];
  withEnrolmentCode: boolean;
  /** mfa.kinds: the kinds offered, in the order shown */
  kinds: readonly FactorKind[];
  organisation: string;
  /** the issuer: the public address of Poort */
  origin: string;
  /** how long an enrolment may take: the interaction's lifetime */
  ttlSeconds: number;
}

/**
 * Enrolment during sign-in, for someone whose sign-in needs a second factor they do not have. A password alone is
 * never enough: the attempt must come from a configured network (and then only for users with no factor at all, so
 * that it cannot be used to get around a factor they have), or bring a one-time enrolment code from the helpdesk.
 */
export class SignInEnrolment {
  private readonly inNetwork: (ip: string) => boolean;

  constructor(readonly options: SignInEnrolmentOptions) {
    this.inNetwork = cidrMatcher(options.networks);
  }

  /** The kinds that may be added for `requirement`: offered, available here, and strong enough. */
  kindsFor(requirement: Requirement): SecondFactor[] {
    return this.options.kinds
      .filter((kind) => satisfies(FACTOR_STRENGTH[kind], requirement))
      .map((kind) => this.options.flow.handler(kind))
      .filter((handler): handler is SecondFactor => handler?.enrolment !== undefined);
  }

  private codeKey(uid: string): string {
    return `signin:enrol:code:${uid}`;
  }

  async standing(ip: string, uid: string, pending: PendingSecondFactor): Promise<Standing> {
    const { all, usable } = await this.options.flow.factorsFor(pending);
    if (usable.length > 0) return { kind: 'has_factor' };
    if (this.kindsFor(pending.requirement).length === 0) return { kind: 'refused' };
    if (all.length === 0 && this.inNetwork(ip)) return { kind: 'allowed', reason: 'network' };
    const redeemed = await this.options.kv.get<{ userId: string }>(this.codeKey(uid));
    if (redeemed?.userId === pending.userId) return { kind: 'allowed', reason: 'enrolment_code' };
    return this.options.withEnrolmentCode ? { kind: 'needs_code' } : { kind: 'refused' };
  }

  /** Whether a sign-in without a usable factor is sent to enrolment rather than refused. */
  async offered(ip: string, uid: string, pending: PendingSecondFactor): Promise<boolean> {
    const standing = await this.standing(ip, uid, pending);
    return standing.kind === 'allowed' || standing.kind === 'needs_code';
  }

  async acceptCode(uid: string, userId: string): Promise<void> {
    await this.options.kv.set(this.codeKey(uid), { userId }, this.options.ttlSeconds);
  }

  async done(uid: string): Promise<void> {
    await this.options.kv.delete(this.codeKey(uid));
    await this.options.pending.clear(uid);
  }
}

/** Enrolment during sign-in as configured (`mfa.enrolment_at_signin`, `mfa.kinds`). */
export function signInEnrolment(services: Services, flow: SignInFlow): SignInEnrolment {
  const { config } = services;
  const ttlSeconds = config.oidc.ttl.interaction;
  return new SignInEnrolment({
    flow,
    kv: services.kv,
    audit: services.audit,
    throttle: new Throttle(services.kv, config.throttle),
    pending: new PendingEnrolments(services.kv, services.secrets.encryptionKey, ttlSeconds),
    codes: new EnrolmentCodes(services.db, services.hasher),
    networks: config.mfa.enrolment_at_signin.networks,
    withEnrolmentCode: config.mfa.enrolment_at_signin.with_enrolment_code,
    kinds: config.mfa.kinds,
    organisation: config.organisation.name,
    origin: config.server.issuer,
    ttlSeconds,
  });
}

/** Every field an enrolment form may post: the factor's own fields, a name for it, and the enrolment code. */
const enrolForm = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 20 });

function enrolInput(body: unknown): Record<string, string> {
  return Object.fromEntries(
    Object.entries((body ?? {}) as Record<string, unknown>).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string' && entry[0] !== 'csrf',
    ),
  );
}

/** The message for a failed enrolment: the kind's own wording where there is one, else a general one. */
export function enrolError(page: PageContext, reason: string): string {
  for (const key of [`enrol.error.${reason}`, `mfa.error.${reason}`]) {
    const message = page.t(key);
    if (message !== key) return message;
  }
  return page.t('enrol.error.generic');
}

/**
 * The pages of enrolment during sign-in, under /signin/:uid/enrol: the enrolment-code form where one is needed, the
 * kinds to choose from, each kind's setup page. A successful enrolment completes the sign-in with the new factor.
 */
export function enrolmentRoutes(deps: StepRouteDeps): Router {
  const router = express.Router();
  const { flow, enrolment } = deps;
  const { options } = enrolment;
  const base = (uid: string) => `/signin/${uid}/enrol`;

  interface Attempt {
    interaction: Interaction;
    pending: PendingSecondFactor;
    identity: Identity;
    standing: Standing;
    /** the user has factors, none strong enough: the pages ask for a stronger one rather than a first */
    stronger: boolean;
  }

  async function attempt(req: Request, res: Response, post: boolean): Promise<Attempt | undefined> {
    const interaction = await deps.load(req, res);
    if (!interaction) return undefined;
    if (post && !verifyCsrfToken(deps.csrfKey, interaction.uid, field(req.body, 'csrf'))) {
      deps.showError(req, res, 403, 'csrf');
      return undefined;
    }
    const pending = await flow.pendingSecondFactor(interaction.uid);
    const identity = pending ? await deps.directory.findById(pending.userId) : undefined;
    if (!pending || !identity) {
      deps.showError(req, res, 400, 'session_expired');
      return undefined;
    }
    const standing = await enrolment.standing(req.ip ?? '', interaction.uid, pending);
    const stronger = (await flow.factorsFor(pending)).all.length > 0;
    return { interaction, pending, identity, standing, stronger };
  }

  /** Not (yet) allowed to enrol: to the enrolment-code form, back to the second factor, or refused as there. */
  async function notAllowed(req: Request, res: Response, a: Attempt) {
    const { uid } = a.interaction;
    if (a.standing.kind === 'needs_code') return res.redirect(303, base(uid));
    if (a.standing.kind === 'has_factor') return res.redirect(303, `/signin/${uid}/mfa`);
    await flow.noUsableFactor(a.identity, a.pending.requirement, deps.attemptContext(req, a.interaction));
    res
      .status(403)
      .type('html')
      .send(
        renderPage('mfa-unavailable', deps.page(req, res, base(uid)), { requirement: a.pending.requirement }),
      );
  }

  function codePage(req: Request, res: Response, a: Attempt, status: number, error?: string) {
    const { uid } = a.interaction;
    res
      .status(status)
      .type('html')
      .send(
        renderPage('enrol-code', deps.page(req, res, base(uid)), {
          action: `${base(uid)}/code`,
          csrf: csrfToken(deps.csrfKey, uid),
          stronger: a.stronger,
          error: error ? { message: error } : undefined,
        }),
      );
  }

  function enrolContext(req: Request, a: Attempt, kind: FactorKind): EnrolContext {
    const { uid } = a.interaction;
    return {
      user: a.identity,
      binding: uid,
      action: `${base(uid)}/${kind}`,
      csrf: csrfToken(deps.csrfKey, uid),
      ip: req.ip ?? '',
      organisation: options.organisation,
      origin: options.origin,
    };
  }

  function kindPage(
    req: Request,
    res: Response,
    a: Attempt,
    pending: PendingEnrolment,
    status: number,
    failed: { error?: string; name?: string } = {},
  ) {
    const { uid } = a.interaction;
    const page = deps.page(req, res, `${base(uid)}/${pending.kind}`);
    const ctx = enrolContext(req, a, pending.kind);
    res
      .status(status)
      .type('html')
      .send(
        renderPage('enrol', page, {
          ...pending.vars,
          kind: pending.kind,
          enrolView: `${pending.view}.njk`,
          action: ctx.action,
          beginAction: `${ctx.action}/begin`,
          csrf: ctx.csrf,
          ...(failed.name !== undefined ? { name: failed.name } : {}),
          error: failed.error ? { message: enrolError(page, failed.error) } : undefined,
          // "Remember this device": the enrolment signs the user in with the new factor (finishLogin)
          remember: deps.knownDevices.enabled
            ? { days: deps.knownDevices.days, checked: rememberAsked(req) }
            : undefined,
          kinds: enrolment
            .kindsFor(a.pending.requirement)
            .filter((h) => h.kind !== pending.kind)
            .map((h) => ({ kind: h.kind, href: `${base(uid)}/${h.kind}` })),
        }),
      );
  }

  /** The kind named in the address, if it may be enrolled for this sign-in. */
  function chosenKind(a: Attempt, kind: string | undefined): SecondFactor | undefined {
    return enrolment.kindsFor(a.pending.requirement).find((h) => h.kind === kind);
  }

  router.get('/signin/:uid/enrol', async (req, res) => {
    const a = await attempt(req, res, false);
    if (!a) return;
    if (a.standing.kind === 'needs_code') return codePage(req, res, a, 200);
    if (a.standing.kind !== 'allowed') return notAllowed(req, res, a);
    const { uid } = a.interaction;
    res
      .status(200)
      .type('html')
      .send(
        renderPage('enrol', deps.page(req, res, base(uid)), {
          stronger: a.stronger,
          kinds: enrolment
            .kindsFor(a.pending.requirement)
            .map((h) => ({ kind: h.kind, href: `${base(uid)}/${h.kind}` })),
        }),
      );
  });

  router.post('/signin/:uid/enrol/code', enrolForm, async (req, res) => {
    const a = await attempt(req, res, true);
    if (!a) return;
    if (a.standing.kind === 'allowed') return res.redirect(303, base(a.interaction.uid));
    if (a.standing.kind !== 'needs_code') return notAllowed(req, res, a);
    const page = deps.page(req, res, base(a.interaction.uid));
    const code = field(req.body, 'code').trim();
    if (!code) return codePage(req, res, a, 400, page.t('enrol.code.error.missing'));
    const attemptCtx = deps.attemptContext(req, a.interaction);
    const actor = { type: 'user' as const, id: a.identity.id, name: a.identity.username };
    const subject = { id: a.identity.id, username: a.identity.username, known: true };
    const event = (outcome: 'success' | 'failure' | 'denied', reason?: string) => ({
      action: outcome === 'denied' ? ('signin.throttled' as const) : ('signin.mfa' as const),
      outcome,
      actor,
      subject,
      application: attemptCtx.application,
      source: attemptCtx.source,
      ...(attemptCtx.correlation ? { correlation: attemptCtx.correlation } : {}),
      ...(reason ? { reason } : {}),
      details: { factor: 'enrolment_code' },
    });
    // An enrolment code is a secret like a password: guesses count toward the same throttle.
    const reservation = await options.throttle.reserveFor(a.identity.username, attemptCtx.source.ip);
    if (!reservation.allowed) {
      await options.audit.append(event('denied', 'throttled'));
      res.set('Retry-After', String(reservation.retryAfterSeconds));
      return codePage(
        req,
        res,
        a,
        429,
        page.t('signin.error.throttled', { seconds: reservation.retryAfterSeconds }),
      );
    }
    if (!(await options.codes.redeem(a.identity.id, code))) {
      await options.audit.append(event('failure', 'invalid_enrolment_code'));
      return codePage(req, res, a, 401, page.t('enrol.code.error.invalid'));
    }
    await options.audit.append(event('success'));
    await options.throttle.succeeded(a.identity.username, attemptCtx.source.ip);
    await enrolment.acceptCode(a.interaction.uid, a.identity.id);
    res.redirect(303, base(a.interaction.uid));
  });

  router.get('/signin/:uid/enrol/:kind', async (req, res) => {
    const a = await attempt(req, res, false);
    if (!a) return;
    if (a.standing.kind !== 'allowed') return notAllowed(req, res, a);
    const handler = chosenKind(a, req.params.kind);
    if (!handler) return deps.showError(req, res, 404, 'not_found');
    // A reload shows the same setup (the QR code someone may have scanned already), not a new one.
    const current = await options.pending.current(a.interaction.uid);
    const pending =
      current?.kind === handler.kind
        ? current
        : await options.pending.begin(handler, enrolContext(req, a, handler.kind), {});
    if (!pending) return deps.showError(req, res, 404, 'not_found');
    kindPage(req, res, a, pending, 200);
  });

  /** A step of the setup that needs input before the proof (an address to send a code to): begins it again. */
  router.post('/signin/:uid/enrol/:kind/begin', enrolForm, async (req, res) => {
    const a = await attempt(req, res, true);
    if (!a) return;
    if (a.standing.kind !== 'allowed') return notAllowed(req, res, a);
    const handler = chosenKind(a, req.params.kind);
    if (!handler) return deps.showError(req, res, 404, 'not_found');
    const pending = await options.pending.begin(
      handler,
      enrolContext(req, a, handler.kind),
      enrolInput(req.body),
    );
    if (!pending) return deps.showError(req, res, 404, 'not_found');
    kindPage(req, res, a, pending, 200);
  });

  router.post('/signin/:uid/enrol/:kind', enrolForm, async (req, res) => {
    const a = await attempt(req, res, true);
    if (!a) return;
    if (a.standing.kind !== 'allowed') return notAllowed(req, res, a);
    const handler = chosenKind(a, req.params.kind);
    if (!handler) return deps.showError(req, res, 404, 'not_found');
    const ctx = enrolContext(req, a, handler.kind);
    const input = enrolInput(req.body);
    const result = await options.pending.finish(handler, ctx, input);
    if (!result.ok) {
      const pending = result.pending ?? (await options.pending.begin(handler, ctx, {}));
      if (!pending) return deps.showError(req, res, 404, 'not_found');
      return kindPage(req, res, a, pending, 400, { error: result.reason, name: input.name });
    }
    const { factor } = result;
    const attemptCtx = deps.attemptContext(req, a.interaction);
    await options.audit.append({
      action: 'mfa.enrolled',
      outcome: 'success',
      actor: { type: 'user', id: a.identity.id, name: a.identity.username },
      subject: { id: a.identity.id, username: a.identity.username, known: true },
      application: attemptCtx.application,
      source: attemptCtx.source,
      ...(attemptCtx.correlation ? { correlation: attemptCtx.correlation } : {}),
      details: { factor: factor.kind, factor_id: factor.id, via: 'signin', reason: a.standing.reason },
    });
    await enrolment.done(a.interaction.uid);
    // The factor was just shown to work: it counts as used for this sign-in.
    await deps.finishLogin(
      req,
      res,
      {
        identity: a.identity,
        amr: [...new Set([...a.pending.amr, ...handler.amr, 'mfa'])],
        acr: acrFor(handler.strength, deps.acr),
        strength: handler.strength,
        authTime: Math.floor(Date.now() / 1000),
      },
      attemptCtx,
    );
  });

  return router;
}
