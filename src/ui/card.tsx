/** One figure of the overview, with what it is. */
export function Card({ label, value, class: className }: { label: string; value: string | number; class?: string }) {
  return (
    <div class={className ? `card ${className}` : 'card'}>
      <div class="card-value">{typeof value === 'number' ? value.toLocaleString('en-US') : value}</div>
      <div class="card-label">{label}</div>
    </div>
  );
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
