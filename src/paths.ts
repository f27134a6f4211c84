import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The package root: the folder holding package.json, views/, locales/ and public/ (dist/src/paths.js is two levels down). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const viewsDir = path.join(packageRoot, 'views');
export const localesDir = path.join(packageRoot, 'locales');
export const publicDir = path.join(packageRoot, 'public');
export const defaultConfigFile = path.join(packageRoot, 'config', 'poort.yaml');
