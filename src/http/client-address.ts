/** Walks X-Forwarded-For from the right, past trusted proxies only, to the address of the client. */
export function clientAddress(peer: string, forwardedFor: string, trusted: (ip: string) => boolean): string {
  const hops = forwardedFor
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  let address = peer;
  while (trusted(address) && hops.length > 0) address = hops.pop()!;
  return address;
}
