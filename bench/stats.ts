export interface Row {
  name: string;
  samples: number[];
  /** Compared with this row's p50 in the ratio column. */
  baseline?: number[];
}

export async function time(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function formatRows(rows: Row[]): string {
  const lines = ['| operation | n | p50 ms | p95 ms | p50 ÷ baseline p50 |', '|---|---:|---:|---:|---:|'];
  for (const row of rows) {
    const p50 = percentile(row.samples, 50);
    const ratio = row.baseline ? (p50 / percentile(row.baseline, 50)).toFixed(3) : '—';
    lines.push(`| ${row.name} | ${row.samples.length} | ${p50.toFixed(2)} | ${percentile(row.samples, 95).toFixed(2)} | ${ratio} |`);
  }
  return lines.join('\n');
}
