import { z } from 'zod';
import { applicationProblems, applicationSchema, compileApplication } from './application.js';
import type { CompileEnv, Condition } from './condition.js';
import { compileCountry, countrySchema } from './country.js';
import { compileDevice, deviceSchema } from './device.js';
import { compileFailedAttempts, failedAttemptsSchema } from './failed-attempts.js';
import { compileGroups, groupsSchema } from './groups.js';
import { compileHours, hoursSchema } from './hours.js';
import { compileImpossibleTravel, impossibleTravelSchema } from './impossible-travel.js';
import { compileNetwork, networkProblems, networkSchema } from './network.js';
import { strictObject, type Problem } from './parts.js';
import { compileUsers, usersSchema } from './users.js';

const CONDITION_KEYS = [
  'network',
  'country',
  'device',
  'application',
  'users',
  'groups',
  'hours',
  'impossible_travel',
  'failed_attempts',
] as const;

/** A rule's `when` or `unless`: every condition given must hold. */
export const conditionsSchema = strictObject({
  network: networkSchema.optional(),
  country: countrySchema.optional(),
  device: deviceSchema.optional(),
  application: applicationSchema.optional(),
  users: usersSchema.optional(),
  groups: groupsSchema.optional(),
  hours: hoursSchema.optional(),
  impossible_travel: impossibleTravelSchema.optional(),
  failed_attempts: failedAttemptsSchema.optional(),
}).refine((c) => CONDITION_KEYS.some((k) => c[k] !== undefined), {
  message: `expected at least one condition: ${CONDITION_KEYS.join(', ')}`,
});
export type ConditionsSpec = z.infer<typeof conditionsSchema>;

/** References to the top of the file that do not resolve (unknown network names, classifications nobody has). */
export function conditionProblems(spec: ConditionsSpec, env: CompileEnv): Problem[] {
  const under = (key: string, problems: Problem[]) => problems.map((p) => ({ ...p, path: [key, ...p.path] }));
  return [
    ...(spec.network ? under('network', networkProblems(spec.network, env)) : []),
    ...(spec.application ? under('application', applicationProblems(spec.application, env)) : []),
  ];
}

/**
 * The conditions of a `when` or `unless`, cheapest first: evaluation stops at the first that fails, and the trace of
 * a rule that did not match names that one.
 */
export function compileConditions(spec: ConditionsSpec, env: CompileEnv): Condition[] {
  return [
    spec.users && compileUsers(spec.users),
    spec.groups && compileGroups(spec.groups),
    spec.application && compileApplication(spec.application),
    spec.country && compileCountry(spec.country),
    spec.device && compileDevice(spec.device),
    spec.network && compileNetwork(spec.network, env),
    spec.failed_attempts && compileFailedAttempts(spec.failed_attempts, env),
    spec.hours && compileHours(spec.hours),
    spec.impossible_travel !== undefined ? compileImpossibleTravel(spec.impossible_travel, env) : undefined,
  ].filter((c): c is Condition => c !== undefined);
}

export type { CompileEnv, Condition } from './condition.js';
export { Evaluation } from './condition.js';
