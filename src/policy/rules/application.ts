import { z } from 'zod';
import { listed, type CompileEnv, type Condition } from './condition.js';
import { list, strictObject, type Problem } from './parts.js';

/** `application: { ids: [payroll] }` (OIDC client_id or SAML entityID) or `{ classification: [high] }`. */
export const applicationSchema = strictObject({
  ids: list(z.string().min(1, 'expected an application id')).optional(),
  classification: list(z.string().min(1, 'expected a classification')).optional(),
}).refine((a) => (a.ids === undefined) !== (a.classification === undefined), {
  message: 'expected either ids or classification (one of them)',
});
export type ApplicationSpec = z.infer<typeof applicationSchema>;

/** Classifications no application has: such a condition could never match, which is surely a typing error. */
export function applicationProblems(spec: ApplicationSpec, env: Pick<CompileEnv, 'applications'>): Problem[] {
  const inUse = [...new Set(env.applications.values())];
  return (spec.classification ?? []).flatMap((c, i) =>
    inUse.includes(c)
      ? []
      : [
          {
            path: ['classification', i],
            message: `no application has classification "${c}" (${inUse.length > 0 ? `in use: ${listed(inUse)}` : 'no application is classified'}; see applications)`,
          },
        ],
  );
}

export function compileApplication(spec: ApplicationSpec): Condition {
  if (spec.ids) {
    const ids = new Set(spec.ids);
    const names = listed(spec.ids);
    return {
      holds: (e) => ids.has(e.ctx.application.id),
      explain: (e, held) =>
        `application ${e.ctx.application.id || '(none)'} is ${held ? '' : 'not '}one of ${names}`,
    };
  }
  const classes = new Set(spec.classification);
  const names = listed(spec.classification ?? []);
  return {
    holds: (e) => {
      const c = e.classification;
      return c !== undefined && classes.has(c);
    },
    explain: (e, held) => {
      const id = e.ctx.application.id || '(none)';
      const c = e.classification;
      if (held) return `application ${id} is classified ${c}`;
      return c
        ? `application ${id} is classified ${c}, not ${names}`
        : `application ${id} is not classified ${names}`;
    },
  };
}
