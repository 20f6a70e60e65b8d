import type { ComponentChildren } from 'preact';

/** A table with one header row naming its columns; the rows are the children. */
export function Table({
  columns,
  class: className,
  children,
}: {
  columns: readonly string[];
  class?: string;
  children: ComponentChildren;
}) {
  return (
    <table class={className}>
      <thead>
        <tr>
          {columns.map((column) => (
            <th key={column}>{column}</th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}
