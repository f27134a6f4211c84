import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { SCIM_TOKEN_PREFIX, ScimTokens } from './tokens.js';
import { project, projectionOf } from './projection.js';
import type Provider from 'oidc-provider';
import { PasswordResets } from '../account/password-reset.js';
import { requestPasswordReset } from '../account/password-reset-request.js';
import type { MessageSender } from '../notify/sender.js';
import type { AuditEventInput } from '../audit/event.js';
import { eventOf, recordedBy, subject, type Actor, type Change } from '../audit/recorded.js';
import { isValidUsername, normaliseUsername } from '../directory/identity.js';
import { isValidEmail, UserError, UserRepository, type UserRecord } from '../directory/users.js';
import type { Logger } from '../log/logger.js';
import { signInsCountAgain } from '../oidc/signed-out.js';
import { describeSource } from '../policy/source.js';
import type { Services } from '../server/services.js';
import { isStoreUnavailable, RETRY_AFTER_SECONDS } from '../store/unavailable.js';
import { ScimError } from './errors.js';
import { MAX_COUNT, paging, SCIM_BASE, SCIM_JSON, send, type Caller } from './http.js';
import { GROUP_SCHEMA } from './group-resource.js';
import { parseFilter, type EqualityFilter } from './filter.js';
import { groupRoutes } from './group-routes.js';
import {
  applyPatch,
  currentOf,
  ENTERPRISE_SCHEMA,
  fromResource,
  LIST_SCHEMA,
  toResource,
  USER_SCHEMA,
  type ScimUser,
} from './user-resource.js';

export interface ScimDeps {
  services: Services;
  /** for the welcome e-mail of a new user; absent where no e-mail sender is configured */
  welcome?: { resets: PasswordResets; sender: MessageSender };
  /** read at every request: a key rotation replaces it */
  provider: () => Provider;
  log: Logger;
}

/**
 * SCIM 2.0 for provisioning local users from an HR system (RFC 7643, 7644): the discovery resources and Users,
 * created, found by userName, externalId or e-mail, replaced, patched (Entra ID's and Okta's forms included),
 * disabled (which also signs the person out everywhere) and removed. Each change is recorded with the client as actor,
 * in the same transaction. Users of an LDAP directory or upstream provider are not SCIM's to manage: they are not
 * listed, and a userName of theirs is taken.
 */
export function scimRoutes(deps: ScimDeps): Router {
  const { services, provider, log } = deps;
  const { config } = services;
  const base = `${config.server.issuer.replace(/\/+$/, '')}${SCIM_BASE}`;
  const allowed = new Set(config.scim.clients);
  const tokens = new ScimTokens(services.db);
  const router = express.Router();
  const json = express.json({ type: ['application/json', SCIM_JSON], limit: '64kb', strict: true });

  function audit(req: Request, actor: Actor, change: Change): AuditEventInput {
    return eventOf(actor, {
      ...(actor.id ? { application: { id: actor.id, protocol: 'oidc' as const } } : {}),
      source: describeSource(req.ip ?? '', req.headers),
      ...change,
      details: { via: 'scim', ...change.details },
    });
  }

  /**
   * The client behind the bearer token: an access token from client credentials, or a fixed token (`poort scim token
   * add`), of a client `scim.clients` names.
   */
  async function caller(req: Request): Promise<Caller> {
    const match = /^Bearer\s+([\w.~+/=-]{1,1000})$/i.exec(req.headers.authorization ?? '');
    // a store that cannot be reached throws here, and gets a 503, not a 401
    const bearer = match?.[1];
    const isFixed = bearer?.startsWith(SCIM_TOKEN_PREFIX) === true;
    const fixed = bearer && isFixed ? await tokens.find(bearer) : undefined;
    const token = !bearer ? undefined : isFixed ? fixed : await provider().ClientCredentials.find(bearer);
    const clientId = token?.clientId;
    const known = clientId ? await services.clients.metadata(clientId) : undefined;
    const reason = !match
      ? 'no_token'
      : !token || !known
        ? 'invalid_token'
        : !allowed.has(clientId!)
          ? 'client_not_allowed'
          : undefined;
    if (reason) {
      await services.audit.append(
        audit(
          req,
          { type: 'client', ...(clientId ? { id: clientId, name: clientId } : {}) },
          {
            action: 'scim.rejected',
            outcome: 'denied',
            reason,
            details: { method: req.method, path: req.path },
          },
        ),
      );
      throw reason === 'client_not_allowed'
        ? new ScimError(403, `client ${clientId} may not provision users (scim.clients)`)
        : new ScimError(
            401,
            'a valid access token from the client credentials grant, or a SCIM token of the client, is required',
          );
    }
    // when a fixed token was last used, for reviews of tokens nobody needs any more (to the hour: no write per request)
    if (fixed) await tokens.used(fixed);
    return { clientId: clientId!, actor: { type: 'client', id: clientId!, name: clientId! } };
  }

  const handle =
    (fn: (req: Request, res: Response, who: Caller) => Promise<void>) =>
    (req: Request, res: Response, next: NextFunction) => {
      caller(req)
        .then((who) => fn(req, res, who))
        .catch(next);
    };

  /** The users a filter finds, of any directory. */
  async function usersMatching(filter: EqualityFilter): Promise<UserRecord[]> {
    const one = (user: UserRecord | undefined) => (user ? [user] : []);
    switch (filter.attribute) {
      case 'username':
        return one(await services.users.findByUsername(filter.value));
      case 'id':
        return one(await services.users.findById(filter.value));
      case 'externalid':
        return one(await services.users.findExternal('local', filter.value));
      case 'emails.value': {
        const found = await services.users.findByEmail(filter.value, MAX_COUNT);
        const users = await Promise.all(found.map((u) => services.users.findById(u.id)));
        return users.filter((u): u is UserRecord => u !== undefined);
      }
    }
  }

  async function localUser(id: string): Promise<UserRecord> {
    const user = await services.users.findById(id);
    if (!user || user.directory !== 'local') throw new ScimError(404, `no user ${id}`);
    return user;
  }

  async function resource(user: UserRecord) {
    const externalIds = await services.users.externalIds([user.id]);
    return toResource(user, externalIds.get(user.id) ?? null, base);
  }

  function checked(input: ScimUser): ScimUser {
    const userName = normaliseUsername(input.userName);
    if (!isValidUsername(userName))
      throw new ScimError(
        400,
        `"${input.userName}" is not a valid username (letters, digits, . _ - @; at most 128)`,
        'invalidValue',
      );
    if (!isValidEmail(input.email))
      throw new ScimError(400, `"${input.email}" is not an e-mail address`, 'invalidValue');
    if (input.externalId !== null && input.externalId.length > 256)
      throw new ScimError(400, 'externalId is longer than 256 characters', 'invalidValue');
    return { ...input, userName };
  }

  const uniqueness = (err: unknown) => {
    if (err instanceof UserError && err.code === 'exists')
      return new ScimError(409, err.message, 'uniqueness');
    return err;
  };

  router.get(
    `${SCIM_BASE}/ServiceProviderConfig`,
    handle(async (_req, res) => {
      send(res, 200, {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
        patch: { supported: true },
        bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
        filter: { supported: true, maxResults: MAX_COUNT },
        changePassword: { supported: false },
        sort: { supported: false },
        etag: { supported: false },
        authenticationSchemes: [
          {
            type: 'oauthbearertoken',
            name: 'OAuth Bearer Token',
            description:
              'an access token from Poort’s token endpoint (client credentials) of a client in scim.clients',
            primary: true,
          },
        ],
        meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
      });
    }),
  );

  router.get(
    `${SCIM_BASE}/ResourceTypes`,
    handle(async (_req, res) => {
      send(res, 200, {
        schemas: [LIST_SCHEMA],
        totalResults: 2,
        Resources: [
          {
            schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
            id: 'Group',
            name: 'Group',
            endpoint: '/Groups',
            schema: GROUP_SCHEMA,
            meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/Group` },
          },
          {
            schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
            id: 'User',
            name: 'User',
            endpoint: '/Users',
            schema: USER_SCHEMA,
            schemaExtensions: [{ schema: ENTERPRISE_SCHEMA, required: false }],
            meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/User` },
          },
        ],
      });
    }),
  );

  router.get(
    `${SCIM_BASE}/Schemas`,
    handle(async (_req, res) => {
      const attribute = (name: string, extra: Record<string, unknown> = {}) => ({
        name,
        type: 'string',
        multiValued: false,
        required: false,
        caseExact: false,
        mutability: 'readWrite',
        returned: 'default',
        uniqueness: 'none',
        ...extra,
      });
      send(res, 200, {
        schemas: [LIST_SCHEMA],
        totalResults: 2,
        Resources: [
          {
            schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
            id: USER_SCHEMA,
            name: 'User',
            description: 'A Poort user',
            attributes: [
              attribute('userName', { required: true, uniqueness: 'server' }),
              attribute('externalId', { caseExact: true }),
              attribute('displayName'),
              {
                ...attribute('name', { type: 'complex' }),
                subAttributes: [attribute('formatted'), attribute('givenName'), attribute('familyName')],
              },
              {
                ...attribute('emails', { type: 'complex', multiValued: true, required: true }),
                subAttributes: [
                  attribute('value'),
                  attribute('type'),
                  attribute('primary', { type: 'boolean' }),
                ],
              },
              attribute('active', { type: 'boolean' }),
              {
                ...attribute('groups', { type: 'complex', multiValued: true, mutability: 'readOnly' }),
                subAttributes: [attribute('display', { mutability: 'readOnly' })],
              },
            ],
            meta: { resourceType: 'Schema', location: `${base}/Schemas/${USER_SCHEMA}` },
          },
          {
            schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
            id: GROUP_SCHEMA,
            name: 'Group',
            description: 'A Poort group: policies, the groups claim and SAML attributes refer to it by name',
            attributes: [
              attribute('displayName', { required: true, uniqueness: 'server', mutability: 'immutable' }),
              {
                ...attribute('members', { type: 'complex', multiValued: true }),
                subAttributes: [
                  attribute('value', { mutability: 'immutable' }),
                  attribute('display', { mutability: 'readOnly' }),
                ],
              },
            ],
            meta: { resourceType: 'Schema', location: `${base}/Schemas/${GROUP_SCHEMA}` },
          },
        ],
      });
    }),
  );

  router.get(
    `${SCIM_BASE}/Users`,
    handle(async (req, res) => {
      const { start, count } = paging(req.query);
      let total: number;
      let users: UserRecord[];
      if (req.query.filter === undefined) {
        ({ total, users } = await services.users.listLocal(start - 1, count));
      } else {
        if (typeof req.query.filter !== 'string')
          throw new ScimError(400, 'filter must be given once', 'invalidFilter');
        const matching = (await usersMatching(parseFilter(req.query.filter))).filter(
          (u) => u.directory === 'local',
        );
        total = matching.length;
        users = matching.slice(start - 1, start - 1 + count);
      }
      const externalIds = await services.users.externalIds(users.map((u) => u.id));
      const projection = projectionOf(req.query);
      send(res, 200, {
        schemas: [LIST_SCHEMA],
        totalResults: total,
        startIndex: start,
        itemsPerPage: users.length,
        Resources: users.map((u) => project(toResource(u, externalIds.get(u.id) ?? null, base), projection)),
      });
    }),
  );

  router.get(
    `${SCIM_BASE}/Users/:id`,
    handle(async (req, res) => {
      send(
        res,
        200,
        project(await resource(await localUser(String(req.params.id))), projectionOf(req.query)),
      );
    }),
  );

  router.post(
    `${SCIM_BASE}/Users`,
    json,
    handle(async (req, res, who) => {
      const input = checked(fromResource(req.body));
      const created = await recordedBy(services, who.actor, async (db) => {
        const users = new UserRepository(db);
        if (input.externalId !== null && (await users.findExternal('local', input.externalId)))
          throw new ScimError(
            409,
            `the externalId ${input.externalId} belongs to another user`,
            'uniqueness',
          );
        let user = await users
          .create({
            username: input.userName,
            email: input.email,
            name: input.name,
            givenName: input.givenName,
            familyName: input.familyName,
          })
          .catch((err: unknown) => {
            throw uniqueness(err);
          });
        if (input.externalId !== null) await users.setExternalId(user.id, input.externalId);
        if (!input.active) user = await users.setEnabled(user.username, false);
        return {
          result: user,
          changes: [
            audit(req, who.actor, {
              action: 'user.created',
              subject: subject(user),
              details: { external_id: input.externalId, active: input.active },
            }),
          ],
        };
      });
      if (input.active) await welcome(req, who, created);
      res.location(`${base}/Users/${created.id}`);
      send(res, 201, await resource((await services.users.findById(created.id))!));
    }),
  );

  /**
   * A joiner's e-mail with a link to choose their password (scim.welcome_email), when they are made active, or
   * activated without a password yet. The user exists either way: a link
   * that cannot be sent or recorded is withdrawn and logged, and the helpdesk can send another.
   */
  async function welcome(req: Request, who: Caller, user: UserRecord): Promise<void> {
    if (!deps.welcome || !config.scim.welcome_email) return;
    try {
      await requestPasswordReset(
        {
          resets: deps.welcome.resets,
          sender: deps.welcome.sender,
          record: (event) => services.audit.append(audit(req, who.actor, event)).then(() => undefined),
          issuer: config.server.issuer,
          message: { language: config.organisation.default_language, organisation: config.organisation.name },
          origin: 'welcome',
        },
        user,
        config.scim.welcome_link_lifetime,
      );
    } catch (err) {
      log.warn({ err, user: user.id }, 'the welcome e-mail of a provisioned user was not sent');
    }
  }

  /** Brings a user to the state a provisioning system wants: its profile, externalId and whether it is active. */
  async function provision(req: Request, who: Caller, user: UserRecord, wanted: ScimUser) {
    const externalIds = await services.users.externalIds([user.id]);
    const before = currentOf(user, externalIds.get(user.id) ?? null);
    const after = checked(wanted);
    const changed = (['userName', 'email', 'name', 'givenName', 'familyName'] as const).filter(
      (k) => before[k] !== after[k],
    );
    const cut = await recordedBy(services, who.actor, async (db) => {
      const users = new UserRepository(db);
      const changes: Change[] = [];
      if (changed.length > 0) {
        await users
          .applyProfile(user.id, {
            externalId: after.externalId ?? '',
            username: after.userName,
            email: after.email,
            name: after.name,
            givenName: after.givenName,
            familyName: after.familyName,
          })
          .catch((err: unknown) => {
            throw uniqueness(err);
          });
      }
      if (before.externalId !== after.externalId) {
        if (after.externalId !== null && (await users.findExternal('local', after.externalId)))
          throw new ScimError(
            409,
            `the externalId ${after.externalId} belongs to another user`,
            'uniqueness',
          );
        await users.setExternalId(user.id, after.externalId);
      }
      if (changed.length > 0 || before.externalId !== after.externalId)
        changes.push(
          audit(req, who.actor, {
            action: 'user.updated',
            subject: { id: user.id, username: after.userName },
            details: {
              changed: [
                ...changed.map(
                  (k) =>
                    ({
                      userName: 'username',
                      email: 'email',
                      name: 'name',
                      givenName: 'given_name',
                      familyName: 'family_name',
                    })[k],
                ),
                ...(before.externalId !== after.externalId ? ['external_id'] : []),
              ],
              ...(before.userName !== after.userName ? { previous_username: before.userName } : {}),
            },
          }),
        );
      let ended: Date | undefined;
      if (before.active !== after.active) {
        await users.setEnabled(after.userName, after.active);
        // a leaver: every session and token ends now, not at its expiry
        if (!after.active) ended = await users.endSessions(user.id);
        changes.push(
          audit(req, who.actor, {
            action: after.active ? 'user.enabled' : 'user.disabled',
            subject: { id: user.id, username: after.userName },
            ...(ended ? { details: { signed_out_everywhere: true } } : {}),
          }),
        );
      }
      return { result: ended, changes };
    });
    if (cut) await signInsCountAgain(cut);
    const now = (await services.users.findById(user.id))!;
    // a joiner created inactive, whose first day has come: the welcome e-mail goes out now
    if (!before.active && after.active && !now.hasPassword) await welcome(req, who, now);
    return now;
  }

  router.put(
    `${SCIM_BASE}/Users/:id`,
    json,
    handle(async (req, res, who) => {
      const user = await localUser(String(req.params.id));
      send(res, 200, await resource(await provision(req, who, user, fromResource(req.body))));
    }),
  );

  router.patch(
    `${SCIM_BASE}/Users/:id`,
    json,
    handle(async (req, res, who) => {
      const user = await localUser(String(req.params.id));
      const externalIds = await services.users.externalIds([user.id]);
      const wanted = applyPatch(currentOf(user, externalIds.get(user.id) ?? null), req.body);
      send(res, 200, await resource(await provision(req, who, user, wanted)));
    }),
  );

  router.delete(
    `${SCIM_BASE}/Users/:id`,
    handle(async (req, res, who) => {
      const user = await localUser(String(req.params.id));
      await recordedBy(services, who.actor, async (db) => {
        const removed = await new UserRepository(db).remove(user.username);
        return {
          result: removed,
          changes: [
            audit(req, who.actor, {
              action: 'user.removed',
              subject: subject(removed.user),
              details: { groups: removed.user.groups, factors: removed.factors, devices: removed.devices },
            }),
          ],
        };
      });
      await new PasswordResets(services.kv, services.hasher).withdrawFor(user.id);
      send(res, 204);
    }),
  );

  groupRoutes({ router, services, handle, json, audit, base });

  router.all(
    `${SCIM_BASE}/*splat`,
    handle(async (req) => {
      throw new ScimError(404, `no SCIM resource ${req.path}`);
    }),
  );

  router.use(SCIM_BASE, (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const answer =
      err instanceof ScimError
        ? err
        : (err as { type?: string }).type === 'entity.parse.failed'
          ? new ScimError(400, 'the body is not valid JSON', 'invalidSyntax')
          : (err as { type?: string }).type === 'entity.too.large'
            ? new ScimError(413, 'the body is larger than 64 KiB')
            : undefined;
    if (!answer) {
      // never a stack trace or an HTML page: a store that cannot be reached is a 503 the client retries
      const unavailable = isStoreUnavailable(err);
      if (unavailable) res.set('Retry-After', String(RETRY_AFTER_SECONDS));
      log.error({ err, path: req.path }, 'SCIM request failed');
      const failed = new ScimError(
        unavailable ? 503 : 500,
        unavailable ? 'temporarily unavailable' : 'the request failed',
      );
      return send(res, failed.status, failed.toJSON());
    }
    if (answer.status === 401) res.set('WWW-Authenticate', 'Bearer realm="poort", error="invalid_token"');
    send(res, answer.status, answer.toJSON());
  });

  return router;
}
