import type { VmSelection } from '@/db/schema/policies';
import type { VmInfo } from '@/server/connectors/types';

export type { VmSelection };

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}

function inFolder(vmFolder: string, folder: string): boolean {
  const f = folder.endsWith('/') && folder.length > 1 ? folder.slice(0, -1) : folder;
  return f === '/' || vmFolder === f || vmFolder.startsWith(`${f}/`);
}

/** Does a VM fall under a selection? Evaluated against the live inventory at run time; proxies are never selected. */
export function matchesSelection(vm: Pick<VmInfo, 'name' | 'folder' | 'tags' | 'isProxy'>, sel: VmSelection): boolean {
  if (vm.isProxy) return false;
  if (sel.names.some((n) => n.toLowerCase() === vm.name.toLowerCase())) return true;
  if (sel.folders.some((f) => inFolder(vm.folder, f))) return true;
  if (sel.tags.some((t) => vm.tags.some((vt) => vt.toLowerCase() === t.toLowerCase()))) return true;
  if (sel.namePattern && globToRegExp(sel.namePattern).test(vm.name)) return true;
  return false;
}

export function selectVms<T extends Pick<VmInfo, 'name' | 'folder' | 'tags' | 'isProxy'>>(vms: T[], sel: VmSelection): T[] {
  return vms.filter((vm) => matchesSelection(vm, sel)).sort((a, b) => a.name.localeCompare(b.name));
}

export function isEmptySelection(sel: VmSelection): boolean {
  return sel.names.length === 0 && sel.folders.length === 0 && sel.tags.length === 0 && !sel.namePattern;
}
