import type { Request, Response } from 'express';
import { ACTIVITY_DAYS, activityCells, recentActivity } from '../account/activity.js';
import type { PasswordResets } from '../account/password-reset.js';
import {
  requestPasswordReset,
  ResetNotSent,
  type ResetRequestEvent,
} from '../account/password-reset-request.js';
import { subject, type Change } from '../audit/recorded.js';
import { UserRepository, type UserRecord } from '../directory/users.js';
import { EnrolmentCodes, ENROLMENT_CODE_TTL_SECONDS, storeEnrolmentCode } from '../mfa/enrolment-codes.js';
import { factorRemovalChanges } from '../mfa/factor-removal.js';
import { FactorRepository } from '../mfa/factors.js';
import { RecoveryCodes } from '../mfa/recovery.js';
import type { MessageSender } from '../notify/sender.js';
import { signInsCountAgain } from '../oidc/signed-out.js';
import { ADMIN, adminForm, type AdminConsole, type AdminVisit } from './console.js';
import { mayManage } from './roles.js';

const USERS = `${ADMIN}/users`;
const SEARCH_LIMIT = 50;
const DONE = new Set(['disabled', 'enabled', 'signed_out', 'reset_sent', 'reset_failed', 'factors_removed']);

export interface UserPageDeps {
  resets: PasswordResets;
  /** e-mails reset links; undefined where no e-mail sender is configured (the button is not offered) */
  resetSender: MessageSender | undefined;
}

const userPath = (user: { id: string }) => `${USERS}/${encodeURIComponent(user.id)}`;

/**
 * The helpdesk's pages: find an account, see its state, and help its owner back in — a reset link by e-mail, sign
 * out everywhere, disable or enable, remove lost second factors. Each change is recorded with the helpdesk member as
 * actor, in the same transaction; the helpdesk cannot change its own account or that of anyone holding a role.
 */
export function userRoutes(console: AdminConsole, deps: UserPageDeps): void {
  const { router } = console;
  const { services } = console.deps;
  const { config } = services;
  /** whether a user can redeem an enrolment code at sign-in, so the helpdesk can hand one out */
  const enrolmentCodes = config.mfa.enrolment_at_signin.with_enrolment_code;

  router.get(USERS, async (req, res) => {
    const v = await console.visit(req, res, 'users.read', false);
    if (!v) return;
    const q = typeof req.query.q === 'string' ? req.query.q.trim().slice(0, 128) : '';
    const found = q ? await services.users.search(q, SEARCH_LIMIT + 1) : [];
    console.render(req, res, v, 'users', {
      q,
      searched: q !== '',
      more: found.length > SEARCH_LIMIT,
      users: found.slice(0, SEARCH_LIMIT).map((u) => ({ ...u, href: userPath(u) })),
    });
  });

  async function target(req: Request, res: Response): Promise<UserRecord | undefined> {
    const user = await services.users.findById(String(req.params.id));
    if (!user) console.deps.showError(req, res, 404, 'not_found');
    return user;
  }

  router.get(`${USERS}/:id`, async (req, res) => {
    const v = await console.visit(req, res, 'users.read', false);
    if (!v) return;
    const user = await target(req, res);
    if (!user) return;
    const factors = await services.factors.list(user.id);
    const manage = v.permissions.has('users.manage')
      ? mayManage(v.identity.id, user, config.admin)
      : undefined;
    const done = typeof req.query.done === 'string' && DONE.has(req.query.done) ? req.query.done : '';
    const action = (name: string) => `${userPath(user)}/${name}`;
    // the account's sign-in attempts, to see why someone cannot get in; reading the trail is recorded, as a search
    const activity = await recentActivity(services.audit, user.id);
    await console.record(req, v, {
      action: 'audit.searched',
      subject: { id: user.id, username: user.username },
      details: {
        filter: { user: user.id, action: 'signin.*', days: ACTIVITY_DAYS },
        results: activity.length,
        via: 'user_page',
      },
    });
    console.render(req, res, v, 'user', (page) => ({
      user,
      factors,
      done,
      back: USERS,
      days: ACTIVITY_DAYS,
      rows: activityCells(activity, page.lang, page.t),
      manage: manage?.ok
        ? {
            enable: user.enabled ? undefined : action('enable'),
            disable: user.enabled ? action('disable') : undefined,
            signOut: action('sign-out'),
            reset: user.directory === 'local' && deps.resetSender ? action('reset-password') : undefined,
            resetUnavailable:
              user.directory !== 'local' ? 'directory' : deps.resetSender ? undefined : 'no_sender',
            factors: factors.length > 0 ? action('remove-factors') : undefined,
            enrolmentCode: enrolmentCodes ? action('enrolment-code') : undefined,
          }
        : undefined,
      refusal: manage && !manage.ok ? manage.reason : undefined,
    }));
  });

  /**
   * A helpdesk change: the visit, the account, and whether the helpdesk may change it (refusals are recorded). `run`
   * returns what to report on the account's page, or undefined when it answered itself.
   */
  function change(
    name: string,
    action: Change['action'],
    run: (req: Request, res: Response, v: AdminVisit, user: UserRecord) => Promise<string | undefined>,
  ): void {
    router.post(`${USERS}/:id/${name}`, adminForm, async (req, res) => {
      const v = await console.visit(req, res, 'users.manage', true);
      if (!v) return;
      const user = await target(req, res);
      if (!user) return;
      const allowed = mayManage(v.identity.id, user, config.admin);
      if (!allowed.ok) {
        await console.record(req, v, {
          action,
          outcome: 'denied',
          reason: allowed.reason,
          subject: subject(user),
        });
        return console.deps.showError(req, res, 403, 'access_denied');
      }
      const done = await run(req, res, v, user);
      if (done) res.redirect(303, `${userPath(user)}?done=${done}`);
    });
  }

  for (const enabled of [false, true]) {
    change(
      enabled ? 'enable' : 'disable',
      enabled ? 'user.enabled' : 'user.disabled',
      async (req, _res, v, user) => {
        if (user.enabled !== enabled)
          await console.recorded(req, v, async (db) => ({
            result: await new UserRepository(db).setEnabled(user.username, enabled),
            changes: [{ action: enabled ? 'user.enabled' : 'user.disabled', subject: subject(user) }],
          }));
        return enabled ? 'enabled' : 'disabled';
      },
    );
  }

  change('sign-out', 'logout', async (req, _res, v, user) => {
    const cut = await console.recorded(req, v, async (db) => ({
      result: await new UserRepository(db).endSessions(user.id),
      changes: [{ action: 'logout', subject: subject(user), details: { everywhere: true } }],
    }));
    await signInsCountAgain(cut);
    return 'signed_out';
  });

  change('reset-password', 'password.reset.requested', async (req, _res, v, user) => {
    if (user.directory !== 'local' || !deps.resetSender) return 'reset_failed';
    try {
      await requestPasswordReset(
        {
          resets: deps.resets,
          sender: deps.resetSender,
          record: (event: ResetRequestEvent) => console.record(req, v, event),
          issuer: config.server.issuer,
          message: { language: config.organisation.default_language, organisation: config.organisation.name },
        },
        user,
        config.passwords.reset.link_lifetime,
      );
    } catch (err) {
      if (!(err instanceof ResetNotSent)) throw err;
      console.deps.log.warn({ event: 'admin.reset', err }, 'reset link not sent');
      return 'reset_failed';
    }
    return 'reset_sent';
  });

  change('remove-factors', 'mfa.removed', async (req, _res, v, user) => {
    await console.recorded(req, v, async (db) => {
      const records = await new FactorRepository(db, services.secrets.encryptionKey).removeAll(user.id);
      const recoveryCodes = await new RecoveryCodes(db, services.hasher).removeAll(user.id);
      return { result: undefined, changes: factorRemovalChanges(user, records, recoveryCodes) };
    });
    return 'factors_removed';
  });

  /**
   * A single-use code with which the user sets up a new second factor from anywhere (a lost phone, away from the
   * office network): shown once to the helpdesk member, who hands it over by phone or in person; only its hash is
   * kept, and it replaces earlier codes.
   */
  change('enrolment-code', 'mfa.enrolment_code.issued', async (req, res, v, user) => {
    if (!enrolmentCodes) {
      console.deps.showError(req, res, 404, 'not_found');
      return undefined;
    }
    const prepared = await new EnrolmentCodes(services.db, services.hasher).prepare(
      ENROLMENT_CODE_TTL_SECONDS,
    );
    const { withdrawn } = await console.recorded(req, v, (db) =>
      storeEnrolmentCode(db, services.hasher, user, prepared, ENROLMENT_CODE_TTL_SECONDS),
    );
    console.render(req, res, v, 'enrolment-code', {
      user,
      code: prepared.code,
      expiresAt: prepared.expiresAt,
      withdrawn: withdrawn > 0,
      back: userPath(user),
    });
    return undefined;
  });
}
