import type { AuditEvent, StoredAuditEvent } from '../audit/event.js';
import type { Sink } from '../audit/sinks/sink.js';
import type { UserRecord } from '../directory/users.js';
import { countryName, translator, type Language, type Translate } from '../http/i18n.js';
import type { Logger } from '../log/logger.js';
import type { KeyValueStore } from '../store/kv.js';
import { personParams } from './message-params.js';
import { SECURITY_NOTICES_SINK } from './security-notices-sink.js';
import type { Message, MessageSender } from './sender.js';

/** Changes a person should hear about when someone else may have made them. */
const NOTICED = new Set([
  'password.changed',
  'password.reset.completed',
  'mfa.enrolled',
  'mfa.removed',
  'mfa.recovery_codes.generated',
]);
/** Older changes are not told any more (notices were off for a while, or could not be sent for a day). */
const STALE_MS = 24 * 3600_000;
/** How long a sent notice is remembered, so that no node sends it again. */
const CLAIM_SECONDS = 2 * 24 * 3600;

/** What the notices tell: changes to the security of accounts, sign-ins with browsers not used before, or both. */
export interface NoticeKinds {
  changes: boolean;
  newSignIns: boolean;
}

/** A sign-in with a browser the account had not signed in with before (notifications.new_sign_ins). */
function isNewSignIn(event: AuditEvent): boolean {
  return (
    event.action === 'signin.completed' && event.outcome === 'success' && event.details?.new_browser === true
  );
}

/** `a sign-in with Firefox on Windows, from the Netherlands (address 192.0.2.1)`, in the organisation's language. */
function signInLine(event: AuditEvent, t: Translate, language: Language, when: string): string {
  const source = event.source ?? {};
  const browser = source.device?.browser ?? t('notice.unknown_browser');
  const os = source.device?.os;
  const place = source.country ? countryName(source.country, language) : t('notice.unknown_place');
  return t(os ? 'notice.line.new_sign_in' : 'notice.line.new_sign_in_no_os', {
    when,
    browser,
    os,
    place,
    ip: source.ip ?? '?',
  });
}

/** The line a notice gives one event, in the organisation's language; undefined for what is not told. */
export function noticeLine(
  event: AuditEvent,
  t: Translate,
  kinds: NoticeKinds = { changes: true, newSignIns: false },
  language: Language = 'en',
): string | undefined {
  if (kinds.newSignIns && isNewSignIn(event)) {
    return signInLine(event, t, language, event.time.slice(0, 16).replace('T', ' '));
  }
  if (!kinds.changes || !NOTICED.has(event.action) || event.outcome !== 'success') return undefined;
  const by = event.actor.type === 'cli' ? 'helpdesk' : 'you';
  const details = event.details ?? {};
  const factor = typeof details.factor === 'string' ? details.factor : undefined;
  const kind = factor && factor !== 'recovery_code' ? t(`mfa.kind.${factor}`) : undefined;
  const key = (() => {
    switch (event.action) {
      case 'password.changed':
        return `notice.line.password_changed.${by}`;
      case 'password.reset.completed':
        return 'notice.line.password_reset';
      case 'mfa.recovery_codes.generated':
        return `notice.line.recovery_codes.${by}`;
      case 'mfa.enrolled':
        return `notice.line.factor_added.${by}`;
      default:
        return factor === 'recovery_code'
          ? `notice.line.recovery_codes_removed.${by}`
          : `notice.line.factor_removed.${by}`;
    }
  })();
  const when = event.time.slice(0, 16).replace('T', ' ');
  const name = typeof details.name === 'string' && details.name ? ` “${details.name}”` : '';
  return t(key, { when, kind: `${kind ?? t('notice.factor')}${name}` });
}

/**
 * The e-mail telling a person about changes to the security of their account, or sign-ins with browsers it had not
 * signed in with (`signIns` of the lines are those), and what to do if it was not them.
 */
export function securityNotice(
  settings: { language: Language; organisation: string },
  user: Pick<UserRecord, 'username' | 'name'>,
  lines: string[],
  signIns = 0,
): Message {
  const t = translator(settings.language);
  const params = personParams(settings, user);
  const only = signIns === 0 ? '' : signIns === lines.length ? '_sign_ins' : '_both';
  return {
    subject: t(only === '_sign_ins' ? 'notice.subject_sign_ins' : 'notice.subject', params),
    text: [
      t('notice.greeting', params),
      t(`notice.intro${only}`, params),
      lines.map((line) => `- ${line}`).join('\n'),
      t('notice.outro', params),
    ].join('\n\n'),
  };
}

export interface SecurityNoticeDeps {
  users: { findById(id: string): Promise<UserRecord | undefined> };
  sender: MessageSender;
  /** shared by every node: a notice claimed here is not sent by another */
  kv: KeyValueStore;
  language: Language;
  organisation: string;
  log: Logger;
  /** default: changes only (notifications.security_changes) */
  kinds?: NoticeKinds;
  now?: () => number;
}

/**
 * E-mails people when the security of their account changes (notifications.security_changes): a new password, a
 * second factor added or removed, new recovery codes; whoever made the change, on the account page, with a reset
 * link or by the helpdesk with the CLI. Someone who did not make it knows at once that someone else can. And, with
 * notifications.new_sign_ins, when their account signed in with a browser it had not signed in with before.
 *
 * It reads the audit trail as a sink does, from a durable cursor, so that changes made by the CLI are told too and
 * nothing is lost when the mail server is away (the batch is tried again). The changes of one person in one batch
 * make one e-mail. Every node ships the trail: a notice is claimed in the shared key-value store before it is sent,
 * so only one node sends it, and the claim is let go when the sending fails.
 */
export class SecurityNoticeSink implements Sink {
  readonly name = SECURITY_NOTICES_SINK;
  readonly batchSize = 200;
  readonly #t: Translate;
  readonly #kinds: NoticeKinds;

  constructor(private readonly deps: SecurityNoticeDeps) {
    this.#t = translator(deps.language);
    this.#kinds = deps.kinds ?? { changes: true, newSignIns: false };
  }

  #line(event: AuditEvent): string | undefined {
    return noticeLine(event, this.#t, this.#kinds, this.deps.language);
  }

  async deliver(batch: StoredAuditEvent[]): Promise<void> {
    const now = (this.deps.now ?? Date.now)();
    const byUser = new Map<string, AuditEvent[]>();
    for (const { event } of batch) {
      const userId = event.subject?.id;
      if (!userId || now - Date.parse(event.time) > STALE_MS || !this.#line(event)) continue;
      byUser.set(userId, [...(byUser.get(userId) ?? []), event]);
    }
    for (const [userId, events] of byUser) await this.#tell(userId, events);
  }

  async #tell(userId: string, events: AuditEvent[]): Promise<void> {
    const user = await this.deps.users.findById(userId);
    // removed since: there is nobody to tell
    if (!user) return;
    const claimed: AuditEvent[] = [];
    for (const event of events) if (await this.#claim(event.id)) claimed.push(event);
    if (claimed.length === 0) return;
    const lines = claimed.map((e) => this.#line(e)!);
    const signIns = claimed.filter(isNewSignIn).length;
    try {
      await this.deps.sender.send(
        user.email,
        securityNotice(
          { language: this.deps.language, organisation: this.deps.organisation },
          user,
          lines,
          this.#kinds.newSignIns ? signIns : 0,
        ),
      );
    } catch (err) {
      for (const event of claimed) await this.deps.kv.delete(this.#key(event.id));
      throw err;
    }
    this.deps.log.info(
      { event: 'notice.sent', user: userId, changes: claimed.map((e) => e.action) },
      'told a user about changes to their account',
    );
  }

  #key(eventId: string): string {
    return `security-notice:${eventId}`;
  }

  async #claim(eventId: string): Promise<boolean> {
    return this.deps.kv.update<number, boolean>(this.#key(eventId), (current, now) =>
      current === undefined
        ? { value: now, ttlSeconds: CLAIM_SECONDS, result: true }
        : { value: current, result: false },
    );
  }

  async close(): Promise<void> {
    // the sender holds no connection between messages
  }
}
