import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { defaultConfigFile } from '../../paths.js';
import { CliError, globalOptions, loadModules } from '../context.js';
import { print } from '../io.js';

/** Where `init` writes: --config, else POORT_CONFIG, else ./poort.yaml (where Poort will look for it). */
function targetFile(cmd: Command): string {
  return path.resolve(globalOptions(cmd).config ?? (process.env.POORT_CONFIG || 'poort.yaml'));
}

function writeStarterConfig(file: string, force: boolean): void {
  const text = fs.readFileSync(defaultConfigFile, 'utf8');
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text, { mode: 0o600, flag: force ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CliError(`${file} already exists; use --force to overwrite it`);
    }
    throw new CliError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description('write a starter configuration and create the data folder and keys')
    .option('--force', 'overwrite an existing configuration file')
    .action(async (opts: { force?: boolean }, cmd: Command) => {
      const file = targetFile(cmd);
      writeStarterConfig(file, opts.force === true);
      print(`Wrote the configuration to ${file}`);

      const { loaded, openServices } = await loadModules(file);
      const { KeyStore } = await import('../../keys/keystore.js');
      const { resolveConfigFile } = await import('../../config/load.js');
      const { data_dir: dataDir } = loaded.config.storage;
      const dataExisted = fs.existsSync(path.join(dataDir, 'poort.sqlite'));
      const keyStore = new KeyStore(loaded.config.keys.dir);
      const { created } = await keyStore.ensure();
      const services = await openServices(loaded);
      await services.close();

      print(
        dataExisted
          ? `Kept the existing database in ${dataDir} (migrated to the latest version)`
          : `Created the database in ${dataDir}`,
      );
      const newKeys = keyStore.signingKeys().filter((k) => created.includes(k.kid));
      if (created.length === 0) {
        print(`Kept the existing keys in ${keyStore.dir}`);
      } else {
        print(`Created keys in ${keyStore.dir} (back this folder up; never commit it):`);
        for (const key of newKeys) print(`  ${key.alg} signing key ${key.kid}`);
        if (created.includes('secrets.json')) print('  secrets.json (cookie, encryption and CSRF keys)');
      }

      // Without --config, the CLI and the server find the file themselves when it is where they look.
      const found = resolveConfigFile() === file;
      const config = found ? '' : ` --config ${file}`;
      const server = fileURLToPath(new URL('../../server/main.js', import.meta.url));
      print();
      print('Next steps:');
      print(`  1. Edit ${file}: set server.issuer to the URL people use to reach Poort.`);
      print(
        `  2. Add a user:        poort${config} user add alice --email alice@example.org --password-stdin`,
      );
      print(
        `  3. Register an app:   poort${config} client add wiki --secret-stdin --redirect-uri https://wiki.example.org/callback`,
      );
      print(
        `  4. Start the server (from ${process.cwd()}, as relative paths in the configuration are read from there):`,
      );
      print(`                        ${found ? '' : `POORT_CONFIG=${file} `}node ${server}`);
    });
}
