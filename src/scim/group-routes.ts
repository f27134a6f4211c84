import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { project, projectionOf, shows } from './projection.js';
import type { AuditEventInput } from '../audit/event.js';
import { recordedBy, type Actor, type Change } from '../audit/recorded.js';
import { rolesOf } from '../admin/roles.js';
import { GroupRepository, isValidGroupName } from '../directory/groups.js';
import { groupRemovalRefusal } from '../policy/group-references.js';
import { UserError } from '../directory/users.js';
import type { Services } from '../server/services.js';
import type { Db } from '../store/database.js';
import { ScimError } from './errors.js';
import { applyGroupPatch, fromGroupResource, toGroupResource, type ScimGroup } from './group-resource.js';
import { LIST_SCHEMA } from './user-resource.js';
import { MAX_COUNT, paging, SCIM_BASE, send, type Caller } from './http.js';

export interface GroupRouteContext {
  router: Router;
  services: Services;
  handle: (
    fn: (req: Request, res: Response, who: Caller) => Promise<void>,
  ) => (req: Request, res: Response, next: NextFunction) => void;
  json: RequestHandler;
  audit: (req: Request, actor: Actor, change: Change) => AuditEventInput;
  base: string;
}

/**
 * SCIM Groups: the HR system's teams and roles as Poort groups, which policies and applications (the `groups`
 * claim, SAML attributes) refer to. Members are local users, by id. A group that gives an administrative role
 * (`admin.roles`) is not SCIM's to change: who may administer Poort is decided with Poort's own CLI.
 */
export function groupRoutes(ctx: GroupRouteContext): void {
  const { router, services, handle, json, audit, base } = ctx;
  const GROUPS = `${SCIM_BASE}/Groups`;

  async function group(id: string) {
    const found = await services.groups.findById(id);
    if (!found) throw new ScimError(404, `no group ${id}`);
    return found;
  }

  function adminGroup(name: string): boolean {
    return rolesOf([name], services.config.admin.roles).length > 0;
  }

  /** The members a provisioning system names must be local users; their ids are checked before anything changes. */
  async function checkMembers(db: Db, ids: Iterable<string>): Promise<Map<string, string>> {
    const usernames = new Map<string, string>();
    for (const id of ids) {
      const row = await db
        .selectFrom('users')
        .select(['id', 'username', 'directory'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row || row.directory !== 'local') throw new ScimError(400, `no local user ${id}`, 'invalidValue');
      usernames.set(row.id, row.username);
    }
    return usernames;
  }

  /** Brings the group's members to `wanted`, recording each addition and removal. */
  async function setMembers(
    req: Request,
    who: Caller,
    db: Db,
    name: string,
    before: Set<string>,
    wanted: Set<string>,
  ): Promise<Change[]> {
    const groups = new GroupRepository(db);
    const added = [...wanted].filter((id) => !before.has(id));
    const removed = [...before].filter((id) => !wanted.has(id));
    const usernames = await checkMembers(db, added);
    const changes: Change[] = [];
    for (const id of added) {
      await groups.addMember(name, id);
      changes.push(
        audit(req, who.actor, {
          action: 'group.changed',
          subject: { id, username: usernames.get(id)! },
          details: { group: name, change: 'member_added' },
        }),
      );
    }
    for (const id of removed) {
      await groups.removeMember(name, id);
      changes.push(
        audit(req, who.actor, {
          action: 'group.changed',
          subject: { id },
          details: { group: name, change: 'member_removed' },
        }),
      );
    }
    return changes;
  }

  router.get(
    GROUPS,
    handle(async (req, res) => {
      const { start, count } = paging(req.query);
      let only: { name?: string; id?: string } = {};
      if (typeof req.query.filter === 'string') {
        const match = /^\s*(displayName|id)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/i.exec(req.query.filter);
        if (!match)
          throw new ScimError(400, 'supported group filters: displayName eq "…", id eq "…"', 'invalidFilter');
        const value = JSON.parse(`"${match[2]!}"`) as string;
        only = match[1]!.toLowerCase() === 'id' ? { id: value } : { name: value };
      }
      // Entra ID looks each group up by name with excludedAttributes=members: no member is read for that
      const groups = await services.groups.summaries(only);
      const page = groups.slice(start - 1, start - 1 + Math.min(count, MAX_COUNT));
      const projection = projectionOf(req.query);
      const withMembers = shows(projection, 'members');
      const resources = await Promise.all(
        page.map(async (g) =>
          project(
            toGroupResource(withMembers ? await group(g.id) : { ...g, memberIds: [] }, base),
            projection,
          ),
        ),
      );
      send(res, 200, {
        schemas: [LIST_SCHEMA],
        totalResults: groups.length,
        startIndex: start,
        itemsPerPage: resources.length,
        Resources: resources,
      });
    }),
  );

  router.get(
    `${GROUPS}/:id`,
    handle(async (req, res) => {
      const projection = projectionOf(req.query);
      const id = String(req.params.id);
      const found = shows(projection, 'members')
        ? await group(id)
        : { ...((await services.groups.summaries({ id }))[0] ?? (await group(id))), memberIds: [] };
      send(res, 200, project(toGroupResource(found, base), projection));
    }),
  );

  router.post(
    GROUPS,
    json,
    handle(async (req, res, who) => {
      const wanted = fromGroupResource(req.body);
      if (!isValidGroupName(wanted.displayName))
        throw new ScimError(
          400,
          `"${wanted.displayName}" is not a valid group name (letters, digits, space . _ : -)`,
          'invalidValue',
        );
      if (adminGroup(wanted.displayName))
        throw new ScimError(
          403,
          `${wanted.displayName} gives an administrative role: manage it with the CLI`,
        );
      const id = await recordedBy(services, who.actor, async (db) => {
        const created = await new GroupRepository(db).create(wanted.displayName).catch((err: unknown) => {
          throw err instanceof UserError && err.code === 'exists'
            ? new ScimError(409, err.message, 'uniqueness')
            : err;
        });
        const changes = [
          audit(req, who.actor, {
            action: 'group.changed',
            details: { group: created.name, change: 'created' },
          }),
          ...(await setMembers(req, who, db, created.name, new Set(), wanted.members)),
        ];
        return { result: created.id, changes };
      });
      res.location(`${base}/Groups/${id}`);
      send(res, 201, toGroupResource(await group(id), base));
    }),
  );

  /** A replacement or patch: the name stays (policies and roles refer to it), the members follow. */
  async function change(req: Request, res: Response, who: Caller, next: (current: ScimGroup) => ScimGroup) {
    const current = await group(String(req.params.id));
    if (adminGroup(current.name))
      throw new ScimError(403, `${current.name} gives an administrative role: manage it with the CLI`);
    const before = new Set(current.memberIds.map((m) => m.id));
    const wanted = next({ displayName: current.name, members: new Set(before) });
    if (wanted.displayName !== current.name)
      throw new ScimError(
        400,
        'a group cannot be renamed: sign-in policies and applications refer to it by name; make a new group instead',
        'mutability',
      );
    await recordedBy(services, who.actor, async (db) => ({
      result: undefined,
      changes: await setMembers(req, who, db, current.name, before, wanted.members),
    }));
    send(res, 200, toGroupResource(await group(current.id), base));
  }

  router.put(
    `${GROUPS}/:id`,
    json,
    handle((req, res, who) => change(req, res, who, () => fromGroupResource(req.body))),
  );

  router.patch(
    `${GROUPS}/:id`,
    json,
    handle((req, res, who) => change(req, res, who, (current) => applyGroupPatch(current, req.body))),
  );

  router.delete(
    `${GROUPS}/:id`,
    handle(async (req, res, who) => {
      const current = await group(String(req.params.id));
      if (adminGroup(current.name))
        throw new ScimError(403, `${current.name} gives an administrative role: manage it with the CLI`);
      const refusal = await groupRemovalRefusal(services, current.name);
      if (refusal) throw new ScimError(400, refusal, 'mutability');
      await recordedBy(services, who.actor, async (db) => {
        const removed = await new GroupRepository(db).remove(current.name);
        return {
          result: undefined,
          changes: [
            audit(req, who.actor, {
              action: 'group.changed',
              details: { group: removed.name, change: 'removed', members: removed.members },
            }),
          ],
        };
      });
      send(res, 204);
    }),
  );
}
