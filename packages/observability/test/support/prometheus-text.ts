/**
 * A strict parser of the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), for tests:
 * anything the format does not allow throws with the line number, and histogram and summary
 * families are checked for their required series.
 */

/** One sample line. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly timestamp?: number;
}

/** The metric types the format declares. */
export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

/** One metric family: its HELP and TYPE and every sample that belongs to it. */
export interface Family {
  readonly name: string;
  readonly help: string | undefined;
  readonly type: MetricType;
  readonly samples: Sample[];
}

/** One series of a histogram family, with its cumulative buckets sorted by upper bound. */
export interface HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
  readonly sum: number;
  readonly count: number;
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const types = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

class ParseError extends Error {
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
  }
}

/** Parses a whole exposition; throws on the first violation of the format. */
export function parsePrometheusText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith("\n"))
    throw new ParseError(0, "the exposition must end with a newline");
  const families = new Map<string, Family>();
  const declared = new Map<string, { help?: string; type?: MetricType }>();
  const seenSeries = new Set<string>();
  const closed = new Set<string>();
  let current: string | undefined;
  const lines = text.split("\n");
  lines.pop();
  lines.forEach((line, index) => {
    const n = index + 1;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (match === null) return; // an ordinary comment
      const [, keyword, name, rest = ""] = match as unknown as [string, string, string, string | undefined];
      if (!metricName.test(name)) throw new ParseError(n, `invalid metric name "${name}"`);
      const entry = declared.get(name) ?? {};
      if (families.has(name) && families.get(name)!.samples.length > 0) {
        throw new ParseError(n, `${keyword} for "${name}" after its samples`);
      }
      if (keyword === "HELP") {
        if (entry.help !== undefined) throw new ParseError(n, `second HELP for "${name}"`);
        entry.help = unescapeHelp(rest, n);
      } else {
        if (entry.type !== undefined) throw new ParseError(n, `second TYPE for "${name}"`);
        if (!types.has(rest.trim())) throw new ParseError(n, `unknown type "${rest}"`);
        entry.type = rest.trim() as MetricType;
      }
      declared.set(name, entry);
      if (current !== undefined && current !== name) closed.add(current);
      if (closed.has(name)) throw new ParseError(n, `metadata of "${name}" is not contiguous`);
      current = name;
      return;
    }
    const sample = parseSample(line, n);
    const family = familyOf(sample.name, declared);
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seenSeries.has(key)) throw new ParseError(n, `duplicate series ${key}`);
    seenSeries.add(key);
    if (current !== undefined && current !== family) closed.add(current);
    if (closed.has(family)) throw new ParseError(n, `samples of "${family}" are not contiguous`);
    current = family;
    let target = families.get(family);
    if (target === undefined) {
      const meta = declared.get(family) ?? {};
      target = { name: family, help: meta.help, type: meta.type ?? "untyped", samples: [] };
      families.set(family, target);
    }
    checkSampleName(target, sample, n);
    target.samples.push(sample);
  });
  for (const [name, meta] of declared) {
    if (!families.has(name))
      families.set(name, { name, help: meta.help, type: meta.type ?? "untyped", samples: [] });
  }
  for (const family of families.values()) {
    if (family.type === "histogram") histogramSeries(family);
    if (family.type === "counter") {
      for (const s of family.samples) {
        if (!(s.value >= 0)) throw new ParseError(0, `counter ${s.name} has value ${s.value}`);
      }
    }
  }
  return families;
}

/**
 * The series of a histogram family, checked: every series has `_bucket` samples with parseable,
 * distinct `le`, one of them `+Inf`, counts that never decrease as `le` grows, a `_count` equal to
 * the `+Inf` bucket, and a `_sum`.
 */
export function histogramSeries(family: Family): HistogramSeries[] {
  if (family.type !== "histogram") throw new Error(`${family.name} is a ${family.type}, not a histogram`);
  const groups = new Map<
    string,
    { labels: Record<string, string>; buckets: { le: number; count: number }[]; sum?: number; count?: number }
  >();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let group = groups.get(key);
    if (group === undefined) {
      group = { labels: rest, buckets: [] };
      groups.set(key, group);
    }
    if (s.name === `${family.name}_bucket`) {
      if (le === undefined) throw new Error(`${s.name} without le`);
      const bound = parseValue(le);
      if (Number.isNaN(bound)) throw new Error(`${s.name} has le="${le}"`);
      if (group.buckets.some((b) => b.le === bound)) throw new Error(`${s.name} repeats le="${le}"`);
      group.buckets.push({ le: bound, count: s.value });
    } else if (s.name === `${family.name}_sum`) group.sum = s.value;
    else if (s.name === `${family.name}_count`) group.count = s.value;
  }
  return [...groups.values()].map((g) => {
    const where = `${family.name}${JSON.stringify(g.labels)}`;
    const buckets = g.buckets.sort((a, b) => a.le - b.le);
    const last = buckets.at(-1);
    if (last === undefined || last.le !== Number.POSITIVE_INFINITY)
      throw new Error(`${where} has no +Inf bucket`);
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i]!.count < buckets[i - 1]!.count) throw new Error(`${where}: bucket counts decrease`);
    }
    if (g.count === undefined || g.sum === undefined) throw new Error(`${where} lacks _count or _sum`);
    if (g.count !== last.count) throw new Error(`${where}: _count ${g.count} != +Inf bucket ${last.count}`);
    return { labels: g.labels, buckets, sum: g.sum, count: g.count };
  });
}

/** The family named `name`, or a thrown error listing what there is. */
export function family(families: Map<string, Family>, name: string): Family {
  const found = families.get(name);
  if (found === undefined) throw new Error(`no family ${name}; have ${[...families.keys()].join(", ")}`);
  return found;
}

/** The samples named `name` (default the family's own name) whose labels include `labels`. */
export function samples(fam: Family, labels: Record<string, string> = {}, name = fam.name): Sample[] {
  return fam.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** The value of the one sample matching `labels`; throws when there is none or more than one. */
export function value(fam: Family, labels: Record<string, string> = {}, name = fam.name): number {
  const found = samples(fam, labels, name);
  if (found.length !== 1) {
    throw new Error(`expected one ${name}${JSON.stringify(labels)}, found ${found.length}`);
  }
  return found[0]!.value;
}

function familyOf(sample: string, declared: Map<string, { type?: MetricType }>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (sample.endsWith(suffix)) {
      const base = sample.slice(0, -suffix.length);
      const type = declared.get(base)?.type;
      if (type === "histogram" || (type === "summary" && suffix !== "_bucket")) return base;
    }
  }
  return sample;
}

function checkSampleName(fam: Family, sample: Sample, n: number): void {
  if (fam.type === "histogram") {
    const ok = [`${fam.name}_bucket`, `${fam.name}_sum`, `${fam.name}_count`].includes(sample.name);
    if (!ok) throw new ParseError(n, `sample ${sample.name} in histogram ${fam.name}`);
    if (sample.name.endsWith("_bucket") !== "le" in sample.labels) {
      throw new ParseError(n, `le belongs on ${fam.name}_bucket only`);
    }
  } else if (fam.type === "summary") {
    if (sample.name === fam.name && !("quantile" in sample.labels)) {
      throw new ParseError(n, `summary sample ${sample.name} without quantile`);
    }
  } else if ("le" in sample.labels && fam.type !== "untyped") {
    throw new ParseError(n, `le on a ${fam.type}`);
  }
}

function parseSample(line: string, n: number): Sample {
  let i = 0;
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (nameMatch === null) throw new ParseError(n, `no metric name in "${line}"`);
  const name = nameMatch[0];
  i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === "{") {
    i++;
    for (;;) {
      if (line[i] === "}") {
        i++;
        break;
      }
      const labelMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
      if (labelMatch === null) throw new ParseError(n, `bad label name at column ${i + 1}`);
      const label = labelMatch[0];
      if (!labelName.test(label) || label.startsWith("__"))
        throw new ParseError(n, `bad label name ${label}`);
      if (label in labels) throw new ParseError(n, `label ${label} twice`);
      i += label.length;
      if (line[i] !== "=" || line[i + 1] !== '"') throw new ParseError(n, `expected ="… after ${label}`);
      i += 2;
      let text = "";
      for (;;) {
        const c = line[i];
        if (c === undefined) throw new ParseError(n, `unterminated value of ${label}`);
        if (c === '"') break;
        if (c === "\\") {
          const next = line[i + 1];
          if (next === "\\") text += "\\";
          else if (next === '"') text += '"';
          else if (next === "n") text += "\n";
          else throw new ParseError(n, `bad escape \\${next ?? ""} in ${label}`);
          i += 2;
        } else {
          text += c;
          i++;
        }
      }
      labels[label] = text;
      i++;
      if (line[i] === ",") {
        i++;
        continue;
      }
      if (line[i] !== "}") throw new ParseError(n, `expected , or } after ${label}`);
    }
  }
  const rest = line.slice(i);
  const parts = /^[ \t]+(\S+)(?:[ \t]+(-?\d+))?[ \t]*$/.exec(rest);
  if (parts === null) throw new ParseError(n, `bad value in "${line}"`);
  const numeric = parseValue(parts[1]!);
  if (Number.isNaN(numeric) && parts[1] !== "NaN") throw new ParseError(n, `bad value "${parts[1]}"`);
  return parts[2] === undefined
    ? { name, labels, value: numeric }
    : { name, labels, value: numeric, timestamp: Number(parts[2]) };
}

function parseValue(text: string): number {
  if (text === "+Inf" || text === "Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (text === "NaN") return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number.NaN;
  return Number(text);
}

function unescapeHelp(text: string, n: number): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const next = text[++i];
    if (next === "\\") out += "\\";
    else if (next === "n") out += "\n";
    else throw new ParseError(n, `bad escape \\${next ?? ""} in HELP`);
  }
  return out;
}
