import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import { RepositoryError } from './format';

/** Keys derived from the master key in the key file: one to seal chunks, one to name them. */
export interface RepoKeys {
  encKey: Buffer;
  idKey: Buffer;
  check: string;
}

export function deriveKeys(master: Buffer): RepoKeys {
  const d = (label: string) => createHmac('sha256', master).update(`quiesce-repository/${label}`).digest();
  return { encKey: d('chunk-encryption'), idKey: d('chunk-id'), check: d('key-check').toString('hex') };
}

/** Reads a key file (64 hex characters); creates one with a fresh random key when `create` and absent. */
export function loadKeyFile(file: string, create: boolean): Buffer {
  if (!fs.existsSync(file)) {
    if (!create) throw new RepositoryError('VALIDATION', `key file ${file} does not exist`);
    const key = randomBytes(32);
    fs.writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  }
  const text = fs.readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new RepositoryError('VALIDATION', `key file ${file} must hold 64 hexadecimal characters (a 256-bit key)`);
  return Buffer.from(text, 'hex');
}

export function checkKey(keys: RepoKeys, expected: string, file: string): void {
  const a = Buffer.from(keys.check, 'hex');
  const b = Buffer.from(expected, 'hex');
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new RepositoryError('VALIDATION', `wrong key: ${file} does not open this repository`);
}
