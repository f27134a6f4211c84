/**
 * A sink the shipping node cannot deliver to, recorded in the shared key-value store so that an operator on any
 * machine (`poort audit shipping`) sees it, not only the shipping node's log.
 */
export interface SinkFailure {
  /** the first failed attempt of this run of failures */
  since: string;
  /** failed attempts in a row */
  attempts: number;
  /** the last attempt's error, as logged */
  error: string;
  /** when the last attempt failed */
  at: string;
  /** the node that tried (the audit lease's holder name), where known */
  node?: string;
}

/**
 * Kept this long after the last failed attempt (retries come at least every 30 s while failing): the record of a node
 * that died while its sink was failing goes by itself.
 */
export const SINK_FAILURE_TTL_SECONDS = 3600;

export function sinkFailureKey(sink: string): string {
  return `audit:sink-failure:${sink}`;
}
