// Readings of a process from /proc (Linux): CPU time and memory.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

let tick: number | null = null;

/** Clock ticks per second (`getconf CLK_TCK`), for /proc/<pid>/stat times. */
export function clockTick(): number {
  if (tick === null) {
    try {
      tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      tick = 100;
    }
  }
  return tick;
}

/** utime + stime of every thread of the process, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // fields after the `(comm)`: state is field 3, utime 14, stime 15
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / clockTick();
}

/** CPU seconds (user + system) of one thread of a process (its main thread: tid = pid). */
export function threadCpuSeconds(pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / clockTick();
}

/** The machine's CPU time since boot, all cores (/proc/stat): busy (everything but idle and iowait) and total, in clock ticks. */
export function machineTicks(): { busy: number; steal: number; total: number } {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  // steal: time the hypervisor ran someone else while this machine had work; busy counts only what ran here
  return { busy: total - f[3]! - f[4]! - f[7]!, steal: f[7]!, total };
}

/** VmRSS and VmHWM (peak RSS), bytes. */
export function memory(pid: number): { rss: number; peakRss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = (name: string): number => {
    const i = status.indexOf(`${name}:`);
    return i === -1 ? 0 : Number.parseInt(status.slice(i + name.length + 1).trim(), 10) * 1024;
  };
  return { rss: kb('VmRSS'), peakRss: kb('VmHWM') };
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
  os: string;
  loadavg: number[];
}

export function machine(): Machine {
  let os: string = process.platform;
  try {
    const rel = readFileSync('/etc/os-release', 'utf8');
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(rel);
    if (m?.[1]) os = m[1];
  } catch {
    /* not Linux: keep the platform name */
  }
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) cpuModel = m[1].trim();
  } catch {
    /* keep os.cpus() */
  }
  return { nproc: cpus().length, cpuModel, memoryBytes: totalmem(), node: process.version, os, loadavg: loadavg() };
}
