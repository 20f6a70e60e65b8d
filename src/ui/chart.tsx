import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

/** A small live line chart (uPlot): x is time in seconds, one series. */
export function Chart({
  title,
  unit,
  times,
  values,
  color,
}: {
  title: string;
  unit: string;
  times: number[];
  values: number[];
  color: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    if (!host.current) return;
    plot.current = new uPlot(
      {
        width: 420,
        height: 160,
        title,
        legend: { show: false },
        scales: { x: { time: true } },
        axes: [{}, { label: unit, size: 60 }],
        series: [{}, { stroke: color, width: 2, fill: `${color}22` }],
      },
      [[], []],
      host.current,
    );
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData([times, values]);
  }, [times, values]);
  return <div class="chart" ref={host} data-chart={title} />;
}
