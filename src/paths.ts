import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this file with package.json (src/ when run from source, dist/src/ when built). */
function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the Poort package root');
    dir = parent;
  }
  return dir;
}

export const packageRoot = findPackageRoot();
export const viewsDir = path.join(packageRoot, 'views');
export const localesDir = path.join(packageRoot, 'locales');
export const publicDir = path.join(packageRoot, 'public');
export const defaultConfigFile = path.join(packageRoot, 'config', 'poort.yaml');
