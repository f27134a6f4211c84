/** Whether the store refused a write for a unique key (SQLite and PostgreSQL each say so in their own words). */
export function isUniqueViolation(err: unknown): boolean {
  return /unique|duplicate/i.test(String(err));
}
