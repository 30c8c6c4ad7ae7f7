/** Sizes as people read them: 512 KiB, 3.2 MiB, 1.5 GiB (binary units, as Docker and the settings count). */
export function formatBytes(bytes: number): string {
  const mib = 1024 * 1024;
  if (bytes >= 1024 * mib) return `${(bytes / (1024 * mib)).toFixed(1)} GiB`;
  if (bytes >= mib) return `${(bytes / mib).toFixed(1)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}
