import { readFileSync } from 'node:fs';

/**
 * This process's peak resident memory in KB. Not `process.resourceUsage().maxRSS`: on Linux a spawned
 * child's ru_maxrss keeps the high-water mark of the parent it was forked from (the kernel carries it
 * across exec), so a child of a parent holding the stand-ins reported the parent's memory, not its own.
 * VmHWM is the high-water mark of this process's own memory since exec.
 */
export function peakRssKb(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]);
  } catch {
    // Not Linux: the rusage figure, which elsewhere is the process's own.
  }
  return process.resourceUsage().maxRSS;
}
