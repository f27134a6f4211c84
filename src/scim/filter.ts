import { ScimError } from './errors.js';

/** The attributes a User list can be filtered on, as SCIM names them (lower-cased: SCIM names are case-insensitive). */
export type FilterAttribute = 'username' | 'externalid' | 'id' | 'emails.value';

export interface EqualityFilter {
  attribute: FilterAttribute;
  value: string;
}

const FILTERABLE = new Set<string>(['username', 'externalid', 'id', 'emails.value', 'emails']);

/**
 * The filters provisioning clients send to find a user before they create or change one: `userName eq "anna"`,
 * `externalId eq "1043"`, `emails.value eq "a@b.nl"` (also as `emails[value eq "a@b.nl"]`). Anything else is
 * refused with invalidFilter rather than answered wrongly.
 */
export function parseFilter(text: string): EqualityFilter {
  const match =
    /^\s*([A-Za-z][\w.]*)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/i.exec(text) ??
    /^\s*(emails)\[\s*value\s+eq\s+"((?:[^"\\]|\\.)*)"\s*\]\s*$/i.exec(text);
  if (!match)
    throw new ScimError(
      400,
      `unsupported filter: ${text.slice(0, 200)} (supported: <attribute> eq "<value>")`,
      'invalidFilter',
    );
  const attribute = match[1]!.toLowerCase();
  if (!FILTERABLE.has(attribute))
    throw new ScimError(
      400,
      `cannot filter on ${match[1]} (supported: userName, externalId, id, emails.value)`,
      'invalidFilter',
    );
  let value: string;
  try {
    value = JSON.parse(`"${match[2]!}"`) as string;
  } catch {
    throw new ScimError(400, 'the filter value is not a valid string', 'invalidFilter');
  }
  return { attribute: (attribute === 'emails' ? 'emails.value' : attribute) as FilterAttribute, value };
}
