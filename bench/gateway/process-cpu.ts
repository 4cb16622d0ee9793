// CPU time of a process and its descendants, from /proc (Linux): what a proxy spends per request,
// nginx's worker included (a child of the master), whatever else runs on the machine.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const microsPerTick = 1e6 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime, in µs (all threads of the process). */
  readonly cpuUs: number;
  /** Clock ticks after boot when it started: tells a process from a later one with the same pid. */
  readonly startTime: string;
}

function readStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined; // gone
  }
  // The command name (field 2) is in parentheses and may hold spaces: fields count from after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    pid,
    ppid: Number(fields[1]),
    cpuUs: (Number(fields[11]) + Number(fields[12])) * microsPerTick,
    startTime: fields[19] ?? "",
  };
}

/** A process and its descendants as they are now, pid and start time each. */
export interface ProcessTree {
  readonly cpuUs: number;
  readonly members: readonly { readonly pid: number; readonly startTime: string }[];
}

/** Reads the CPU time (user + system, µs) of `rootPid` and every process below it. */
export function processTreeCpu(rootPid: number): ProcessTree {
  const all = new Map<number, ProcStat[]>();
  let root: ProcStat | undefined;
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat === undefined) continue;
    if (pid === rootPid) root = stat;
    const siblings = all.get(stat.ppid);
    if (siblings === undefined) all.set(stat.ppid, [stat]);
    else siblings.push(stat);
  }
  if (root === undefined) throw new Error(`process ${rootPid} is not running`);
  const members: ProcStat[] = [];
  const queue = [root];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    members.push(next);
    queue.push(...(all.get(next.pid) ?? []));
  }
  return {
    cpuUs: members.reduce((sum, p) => sum + p.cpuUs, 0),
    members: members.map(({ pid, startTime }) => ({ pid, startTime })),
  };
}

/** Sends SIGKILL to the members of a tree seen earlier that still run (the same processes, not reused pids). */
export function killSurvivors(tree: ProcessTree): number {
  let killed = 0;
  for (const { pid, startTime } of tree.members) {
    if (readStat(pid)?.startTime !== startTime) continue;
    try {
      process.kill(pid, "SIGKILL");
      killed++;
    } catch {
      // exited meanwhile
    }
  }
  return killed;
}
