/**
 * The message of an error for a log line, an audit reason or an error of our own: with the cause that Node puts
 * under `fetch failed` and friends, where the message does not hold it already.
 */
export function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return cause && !err.message.includes(cause) ? `${err.message}: ${cause}` : err.message;
}
