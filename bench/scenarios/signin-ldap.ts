import { HttpClient } from '../http.js';
import { mergeLoadResults, runLoad, type LoadResult, type Workload } from '../load.js';
import { ldapYaml, startSlapd } from '../slapd.js';
import {
  BENCH_PASSWORD,
  benchUsername,
  machineCpuMs,
  prepareEnvironment,
  processCpuMs,
  seed,
  startServer,
  type RunningBenchServer,
} from '../server.js';
import type { ComparisonOptions } from './signin-sink.js';
import { signInWorkload } from './signin.js';

/** measured windows per server, alternated A B B A … so that a drift in the machine's other load hits both alike */
const ROUNDS = 4;

export interface LdapComparison {
  /** the same sign-in of local users (argon2id here), and of users checked by slapd with a bind */
  local: LoadResult;
  ldap: LoadResult;
  /** slapd's CPU per LDAP sign-in (search, bind, group search): the directory's side, not Poort's */
  slapdCpuMsPerOp: number;
  output: { local: string; ldap: string };
}

interface Side {
  server: RunningBenchServer;
  workload: Workload;
  windows: LoadResult[];
}

/**
 * The complete password sign-in of the `signin` scenario, against two servers in alternating windows: one whose users
 * are local, one whose users are entries of a real OpenLDAP slapd on loopback (groupOfNames groups, a service
 * account). An LDAP sign-in costs Poort the searches and binds over a fresh connection, keeping the user's row in
 * line, and the one argon2id verification that every sign-in pays so that timing tells no directory from another.
 */
export async function signInLdapComparison(options: ComparisonOptions): Promise<LdapComparison> {
  const { concurrency, log } = options;
  const slapd = await startSlapd();
  options.onCleanup(() => slapd.stop());
  const members: string[] = [];
  for (let i = 0; i < options.users; i++) {
    members.push(
      await slapd.addPerson({
        uid: benchUsername(i),
        password: BENCH_PASSWORD,
        mail: `${benchUsername(i)}@example.org`,
        cn: `Bench ${i}`,
      }),
    );
  }
  await slapd.addGroup('staff', members.slice(0, 1));

  const side = async (users: number, extraConfig?: () => string): Promise<Side> => {
    const env = await prepareEnvironment(extraConfig ? { extraConfig } : {});
    options.onCleanup(() => env.remove());
    await seed(env, users);
    const server = await startServer(env);
    options.onCleanup(() => server.stop());
    const http = new HttpClient(server.port, server.hostHeader, concurrency);
    options.onCleanup(() => http.close());
    return { server, workload: signInWorkload(http, server.issuer, concurrency), windows: [] };
  };
  log('signin-ldap: a slapd with the bench users, a server with local users and one with LDAP users ...');
  const local = await side(options.users);
  const ldap = await side(0, () => `${ldapYaml(slapd, '  sync_interval: 0')}\n`);
  const windowMs = options.durationMs / ROUNDS;
  log(
    `signin-ldap: servers pid ${local.server.pid} (local) and ${ldap.server.pid} (LDAP), concurrency ${concurrency}, ` +
      `${ROUNDS} × ${windowMs / 1000} s each, alternating ...`,
  );
  const order: Side[] = [];
  for (let round = 0; round < ROUNDS; round++)
    order.push(...(round % 2 === 0 ? [local, ldap] : [ldap, local]));
  const slapdPid = slapd.pid()!;
  const slapdCpu = () => {
    const { user, system } = processCpuMs(slapdPid);
    return user + system;
  };
  // warm both first, apart from the windows: slapd's CPU is read around the measured windows only
  for (const s of [local, ldap]) {
    await runLoad(s.workload, {
      warmupMs: 0,
      durationMs: options.warmupMs,
      serverCpuMs: s.server.cpuMs,
      machineCpuMs,
    });
  }
  let slapdCpuMs = 0;
  for (const s of order) {
    const before = s === ldap ? slapdCpu() : 0;
    const result = await runLoad(s.workload, {
      warmupMs: 0,
      durationMs: windowMs,
      serverCpuMs: s.server.cpuMs,
      machineCpuMs,
    });
    if (s === ldap) slapdCpuMs += slapdCpu() - before;
    s.windows.push(result);
    if (result.errors > 0) break;
  }
  const ldapResult = mergeLoadResults(ldap.windows);
  return {
    local: mergeLoadResults(local.windows),
    ldap: ldapResult,
    slapdCpuMsPerOp: ldapResult.ops > 0 ? slapdCpuMs / ldapResult.ops : 0,
    output: { local: local.server.output(), ldap: ldap.server.output() },
  };
}
