import express, { type Router } from 'express';
import { loopbackTokenEndpoint } from '../account/oidc.js';
import { ADMIN, AdminConsole, type AdminConsoleDeps } from './console.js';
import { auditRoutes } from './audit-routes.js';
import { policyRoutes } from './policy-routes.js';
import { roleHolders } from './roles.js';
import { userRoutes, type UserPageDeps } from './user-routes.js';

/**
 * The administration console under /admin (client `poort-admin`): the helpdesk's account pages, the security
 * officer's policy pages and the audit trail, each open to the roles `admin.roles` gives by group. With
 * `admin.enabled: false` there is no console: /admin is not found.
 */
export function adminPages(options: Omit<AdminConsoleDeps, 'tokenEndpoint'> & UserPageDeps): Router {
  const { services } = options;
  const { config } = services;
  if (!config.admin.enabled) return express.Router();
  const console = new AdminConsole({
    ...options,
    tokenEndpoint: loopbackTokenEndpoint(config.server.host, config.server.port),
  });
  console.router.get([ADMIN, `${ADMIN}/`], async (req, res) => {
    const v = await console.visit(req, res, undefined, false);
    if (!v) return;
    // the access review: who holds which role, for those who audit (the helpdesk sees its own work only)
    const holders = v.permissions.has('audit.read')
      ? roleHolders(await services.users.list(), config.admin)
      : undefined;
    console.render(req, res, v, 'home', { holders, separateDuties: config.admin.separate_duties });
  });
  userRoutes(console, options);
  policyRoutes(console);
  auditRoutes(console);
  return console.router;
}
