import { errorMessage } from '../log/error-message.js';

/** Why a POST to a webhook did not get a 2xx answer; the message is the reason alone, for the caller to prefix. */
export class PostError extends Error {
  override readonly name = 'PostError';
}

/**
 * POSTs a JSON body to a webhook (an SMS gateway, a SIEM receiver) and waits for a 2xx answer, no longer than
 * `timeoutMs`, or until `signal` aborts. Redirects are not followed. The answer's body is read only to free the
 * connection: it may echo what was sent, so it is never returned or logged. Throws a PostError: "no answer within
 * 5s", "HTTP 503 Service Unavailable", or what the connection said ("fetch failed: connect ECONNREFUSED …").
 */
export async function postJson(
  url: string,
  request: { headers: Record<string, string>; body: string; timeoutMs: number; signal?: AbortSignal },
): Promise<void> {
  const { timeoutMs, signal } = request;
  // One controller held here for the whole request, with a timer of our own: AbortSignal.any() over
  // AbortSignal.timeout() holds its sources weakly, and after a garbage collection the timeout could be gone and
  // the request wait for ever (seen once in CI: a 1 s timeout still waiting after 30 s).
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new PostError(`no answer within ${timeoutMs / 1000}s`));
  }, timeoutMs);
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
      signal: controller.signal,
    });
    await response.arrayBuffer().catch(() => undefined);
  } catch (err) {
    if (timedOut) throw new PostError(`no answer within ${timeoutMs / 1000}s`, { cause: err });
    throw new PostError(errorMessage(err), { cause: err });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  if (response.status < 200 || response.status > 299)
    throw new PostError(`HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
}
