import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { rngFor, seededBytes, seededUuid } from '@/server/lib/random';

const MiB = 1 << 20;
/** The partition starts at 1 MiB, as partitioning tools align it. */
export const PARTITION_OFFSET = MiB;

const WORDS =
  'kernel systemd sshd accepted session opened closed for user root cron started finished job backup disk usage memory load average eth0 link up down dhcp lease renewed nginx GET POST 200 404 500 upstream timeout connection reset database checkpoint commit rollback query slow lock wait vacuum index replication lag ok warning error critical'.split(' ');

function textBlob(seed: number | string, tag: string, bytes: number, kind: 'log' | 'conf'): Buffer {
  const rand = rngFor(seed, `text/${tag}`);
  const lines: string[] = [];
  let size = 0;
  let t = Date.UTC(2026, 0, 1) + Math.floor(rand() * 86_400_000);
  while (size < bytes) {
    let line: string;
    if (kind === 'log') {
      t += Math.floor(rand() * 4000);
      const n = 5 + Math.floor(rand() * 10);
      line = `${new Date(t).toISOString()} ${tag.split('/')[0]} ${WORDS[Math.floor(rand() * WORDS.length)]}[${Math.floor(rand() * 30000)}]: ${Array.from({ length: n }, () => WORDS[Math.floor(rand() ** 2 * WORDS.length)]).join(' ')} id=${Math.floor(rand() * 2 ** 32).toString(16)}`;
    } else {
      line = `${WORDS[Math.floor(rand() * WORDS.length)]}_${Math.floor(rand() * 100)} = ${WORDS[Math.floor(rand() * WORDS.length)]}`;
    }
    lines.push(line);
    size += line.length + 1;
  }
  return Buffer.from(`${lines.join('\n')}\n`).subarray(0, bytes);
}

const pools = new Map<string, Buffer>();

/**
 * Log-like text, fast: a slice of a per-seed pool of generated log lines, with unique request ids
 * stamped through it so every file's content is its own.
 */
function logText(seed: number, tag: string, bytes: number): Buffer {
  const key = String(seed);
  let pool = pools.get(key);
  if (!pool) {
    pool = textBlob(seed, 'pool', 4 * MiB, 'log');
    pools.set(key, pool);
  }
  const rand = rngFor(seed, `log/${tag}`);
  const out = Buffer.allocUnsafe(bytes);
  let src = Math.floor(rand() * pool.length);
  for (let o = 0; o < bytes; ) {
    const n = Math.min(bytes - o, pool.length - src);
    pool.copy(out, o, src, src + n);
    o += n;
    src = 0;
  }
  for (let o = 0; o + 8 <= bytes; o += 256) out.write(Math.floor(rand() * 2 ** 32).toString(16).padStart(8, '0'), o, 'latin1');
  return out;
}

/**
 * The files every guest of one OS shares (libraries, documentation, configuration): generated once
 * per lab and hard-linked into each VM's file tree, so VMs share content the way real guests do.
 */
export function buildOsTemplate(dir: string, seed: number, os: string, totalBytes: number): Array<{ rel: string; size: number }> {
  const rand = rngFor(seed, `os/${os}`);
  const files: Array<{ rel: string; size: number }> = [];
  let used = 0;
  let i = 0;
  while (used < totalBytes) {
    const kind = rand();
    const size = Math.min(totalBytes - used, Math.floor(2048 * Math.exp(rand() * Math.log(1024))));
    const rel = kind < 0.6 ? `usr/lib/${os}/lib${i}.so` : kind < 0.85 ? `usr/share/doc/${os}/doc${i}.txt` : `etc/${os}/conf${i}.conf`;
    const full = path.join(dir, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    const data = kind < 0.6 ? seededBytes(seed, `os/${os}/${i}`, size) : kind < 0.85 ? logText(seed, `os/${os}/${i}`, size) : textBlob(seed, `os/${os}/${i}`, size, 'conf');
    fs.writeFileSync(full, data);
    files.push({ rel, size });
    used += size;
    i++;
  }
  return files;
}

export interface DiskImageSpec {
  file: string;
  sizeBytes: number;
  /** Share of the file system to fill. */
  fill: number;
  vmName: string;
  diskIndex: number;
  seed: number;
  osTemplateDir: string;
  osTemplateFiles: Array<{ rel: string; size: number }>;
  workDir: string;
}

function writeMbr(fd: number, sizeBytes: number, signature: number): void {
  const mbr = Buffer.alloc(512);
  mbr.writeUInt32LE(signature >>> 0, 440);
  const entry = 446;
  mbr.writeUInt8(0x00, entry); // not bootable
  mbr.writeUInt8(0x83, entry + 4); // Linux
  mbr.writeUInt32LE(PARTITION_OFFSET / 512, entry + 8);
  mbr.writeUInt32LE(Math.floor((sizeBytes - PARTITION_OFFSET) / 512), entry + 12);
  mbr.writeUInt16LE(0xaa55, 510);
  fs.writeSync(fd, mbr, 0, 512, 0);
}

/**
 * A disk that looks like a real system disk: an MBR partition table and an ext4 file system (made
 * by mke2fs -d from generated files: shared OS files, the VM's own logs and data), then free space.
 * The file is sparse; the result is deterministic for the same seed.
 */
export function buildDiskImage(spec: DiskImageSpec): void {
  const root = path.join(spec.workDir, `${spec.vmName}-disk${spec.diskIndex}`);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(root, 'etc', 'hostname'), `${spec.vmName}\n`);
  const fsBytes = spec.sizeBytes - PARTITION_OFFSET;
  const budget = Math.floor(fsBytes * spec.fill);
  let used = 0;
  if (spec.diskIndex === 0) {
    // System disk: the shared OS files first (a VM-specific subset), then its own logs and data.
    const rand = rngFor(spec.seed, `os-subset/${spec.vmName}`);
    for (const f of spec.osTemplateFiles) {
      if (used + f.size > budget * 0.5) break;
      if (rand() < 0.1) continue;
      const dst = path.join(root, f.rel);
      fs.mkdirSync(path.dirname(dst), { recursive: true });
      fs.linkSync(path.join(spec.osTemplateDir, f.rel), dst);
      used += f.size;
    }
  }
  const tag = `${spec.vmName}/${spec.diskIndex}`;
  const rand = rngFor(spec.seed, `files/${tag}`);
  let i = 0;
  while (used < budget) {
    const size = Math.min(budget - used, Math.floor(64 * 1024 * Math.exp(rand() * Math.log(64))));
    const log = rand() < 0.4;
    const rel = log ? `var/log/${spec.vmName}-${i}.log` : `srv/data/blob-${i}.bin`;
    const full = path.join(root, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, log ? logText(spec.seed, `${tag}/${i}`, size) : seededBytes(spec.seed, `${tag}/${i}`, size));
    used += size;
    i++;
  }
  fs.mkdirSync(path.dirname(spec.file), { recursive: true });
  const fd = fs.openSync(spec.file, 'w');
  try {
    fs.ftruncateSync(fd, spec.sizeBytes);
    writeMbr(fd, spec.sizeBytes, rngFor(spec.seed, `sig/${tag}`)() * 2 ** 32);
  } finally {
    fs.closeSync(fd);
  }
  const blocks = Math.floor(fsBytes / 4096);
  execFileSync(
    'mke2fs',
    ['-q', '-F', '-t', 'ext4', '-b', '4096', '-L', `${spec.vmName}-${spec.diskIndex}`.slice(0, 16), '-U', seededUuid(spec.seed, `fs/${tag}`), '-E', `offset=${PARTITION_OFFSET},root_owner=0:0,hash_seed=${seededUuid(spec.seed, `hash/${tag}`)}`, '-d', root, spec.file, String(blocks)],
    { env: { ...process.env, E2FSPROGS_FAKE_TIME: '1767225600' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  fs.rmSync(root, { recursive: true, force: true });
}
