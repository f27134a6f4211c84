import type { Request, Response } from 'express';
import { compilePolicy } from '../policy/decide.js';
import { diffPolicies, type PolicyDiff } from '../policy/diff.js';
import { activePolicy, type ActivePolicy } from '../policy/load.js';
import { parsePolicy, PolicyError, type PolicySpec } from '../policy/schema.js';
import { PolicyStore } from '../policy/store.js';
import { storePolicyVersion } from '../policy/versions.js';
import { ADMIN, adminForm, field, type AdminConsole, type AdminVisit } from './console.js';

const POLICY = `${ADMIN}/policy`;
/** the largest policy the console takes; the form's limit is above it */
const MAX_POLICY_BYTES = 200_000;
const DONE = new Set(['stored', 'unchanged']);

type Checked = { ok: true; text: string; spec: PolicySpec } | { ok: false; text: string; problems: string[] };

/** The text as the browser sent it (CRLF line ends), parsed and compiled as `poort policy validate` does. */
function check(raw: string): Checked {
  const text = raw.replace(/\r\n?/g, '\n');
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES)
    return { ok: false, text, problems: [`the policy is longer than ${MAX_POLICY_BYTES} bytes`] };
  if (text.trim() === '') return { ok: false, text, problems: ['the policy is empty'] };
  try {
    const spec = parsePolicy(text, 'the policy');
    compilePolicy(spec);
    return { ok: true, text, spec };
  } catch (err) {
    if (err instanceof PolicyError) return { ok: false, text, problems: err.problems };
    throw err;
  }
}

/** The changes of a diff as lists a page can show: what was added, removed or changed, by kind. */
function changesOf(diff: PolicyDiff) {
  return (['rules', 'networks', 'applications'] as const)
    .map((kind) => ({ kind, ...diff[kind] }))
    .filter((c) => c.added.length + c.removed.length + c.changed.length > 0);
}

/**
 * The security officer's pages: the policy in force and its history, a new version written in the browser (checked,
 * then shown as a diff before it is stored), and a rollback. Storing goes through the same code as `poort policy set`:
 * a new version in one transaction with its `policy.changed` event, applied by every node at once.
 */
export function policyRoutes(console: AdminConsole): void {
  const { router } = console;
  const { services } = console.deps;

  async function overview(
    req: Request,
    res: Response,
    v: AdminVisit,
    extra: { status?: number; draft?: string; problems?: string[] } = {},
  ) {
    let active: ActivePolicy | undefined;
    let broken: string[] | undefined;
    try {
      active = await activePolicy(services);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      broken = err.problems;
    }
    const versions = (await new PolicyStore(services.db).list()).reverse();
    const done = typeof req.query.done === 'string' && DONE.has(req.query.done) ? req.query.done : '';
    console.render(
      req,
      res,
      v,
      'policy',
      {
        active,
        broken,
        versions,
        done,
        draft: extra.draft ?? active?.text ?? '',
        problems: extra.problems,
        write: v.permissions.has('policy.write')
          ? { check: `${POLICY}/check`, store: POLICY, rollback: `${POLICY}/rollback` }
          : undefined,
      },
      extra.status,
    );
  }

  router.get(POLICY, async (req, res) => {
    const v = await console.visit(req, res, 'policy.read', false);
    if (v) await overview(req, res, v);
  });

  router.get(`${POLICY}/versions/:version`, async (req, res) => {
    const v = await console.visit(req, res, 'policy.read', false);
    if (!v) return;
    const number = /^\d{1,9}$/.test(String(req.params.version)) ? Number(req.params.version) : 0;
    const version = number > 0 ? await new PolicyStore(services.db).get(number) : undefined;
    if (!version) return console.deps.showError(req, res, 404, 'not_found');
    console.render(req, res, v, 'policy-version', { version, back: POLICY });
  });

  /** A draft checked: its problems, or the difference with the version in force and a button to store it. */
  router.post(`${POLICY}/check`, adminForm, async (req, res) => {
    const v = await console.visit(req, res, 'policy.write', true);
    if (!v) return;
    const checked = check(field(req.body, 'text'));
    if (!checked.ok)
      return overview(req, res, v, { status: 400, draft: checked.text, problems: checked.problems });
    const active = await activePolicy(services).catch(() => undefined);
    const diff = diffPolicies(active?.compiled.spec, checked.spec);
    console.render(req, res, v, 'policy-check', {
      text: checked.text,
      same: active?.text === checked.text,
      changes: changesOf(diff),
      defaultChange: diff.default,
      settings: diff.settings,
      rules: checked.spec.rules.length,
      store: POLICY,
      back: POLICY,
    });
  });

  router.post(POLICY, adminForm, async (req, res) => {
    const v = await console.visit(req, res, 'policy.write', true);
    if (!v) return;
    const checked = check(field(req.body, 'text'));
    if (!checked.ok)
      return overview(req, res, v, { status: 400, draft: checked.text, problems: checked.problems });
    const stored = await storePolicyVersion(
      services,
      console.actor(v),
      checked.text,
      checked.spec,
      (summary) => summary,
      { via: 'admin', roles: v.roles },
      console.origin(req, v),
    );
    res.redirect(303, `${POLICY}?done=${stored ? 'stored' : 'unchanged'}`);
  });

  router.post(`${POLICY}/rollback`, adminForm, async (req, res) => {
    const v = await console.visit(req, res, 'policy.write', true);
    if (!v) return;
    const number = /^\d{1,9}$/.test(field(req.body, 'version')) ? Number(field(req.body, 'version')) : 0;
    const old = number > 0 ? await new PolicyStore(services.db).get(number) : undefined;
    if (!old) return console.deps.showError(req, res, 404, 'not_found');
    const checked = check(old.text);
    if (!checked.ok)
      return overview(req, res, v, {
        status: 400,
        problems: checked.problems.map((p) => p.replace(/^the policy/, `version ${old.version}`)),
      });
    const stored = await storePolicyVersion(
      services,
      console.actor(v),
      old.text,
      checked.spec,
      (summary) => `rollback to version ${old.version}: ${summary}`,
      { rollback_to: old.version, via: 'admin', roles: v.roles },
      console.origin(req, v),
    );
    res.redirect(303, `${POLICY}?done=${stored ? 'stored' : 'unchanged'}`);
  });
}
