import { useState } from 'preact/hooks';
import { ApiError, api } from './api';

export function Append() {
  const [stream, setStream] = useState('');
  const [type, setType] = useState('');
  const [data, setData] = useState('{}');
  const [expected, setExpected] = useState('');
  const [result, setResult] = useState<{ ok: boolean; text: string; conflict?: boolean } | undefined>(undefined);
  const submit = async (e: Event) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = data.trim() === '' ? undefined : JSON.parse(data);
    } catch (error) {
      setResult({ ok: false, text: `data is not JSON: ${(error as Error).message}` });
      return;
    }
    const body: Record<string, unknown> = { events: [{ type, ...(parsed === undefined ? {} : { data: parsed }) }] };
    if (expected.trim() !== '')
      body.expected = /^\d+$/.test(expected.trim()) ? Number(expected.trim()) : expected.trim();
    try {
      const answer = await api<{ position: number; index: number; count: number }>(
        `/streams/${encodeURIComponent(stream)}`,
        { method: 'POST', body },
      );
      setResult({
        ok: true,
        text:
          `appended at position ${answer.position}, index ${answer.index};` +
          ` the stream's count is now ${answer.count}`,
      });
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        setResult({ ok: false, conflict: true, text: `409 ${error.code}: ${error.message}` });
      } else {
        setResult({
          ok: false,
          text: error instanceof ApiError ? `${error.status} ${error.code}: ${error.message}` : String(error),
        });
      }
    }
  };
  return (
    <section>
      <h2>Append an event</h2>
      <form class="append" onSubmit={submit}>
        <label>
          stream{' '}
          <input
            name="stream"
            required
            value={stream}
            onInput={(e) => setStream((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          type{' '}
          <input name="type" required value={type} onInput={(e) => setType((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          data (JSON){' '}
          <textarea
            name="data"
            rows={6}
            value={data}
            onInput={(e) => setData((e.target as HTMLTextAreaElement).value)}
          />
        </label>
        <label>
          expected count{' '}
          <input
            name="expected"
            placeholder="any, empty, exists or a number"
            value={expected}
            onInput={(e) => setExpected((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit">append</button>
      </form>
      {result && (
        <p class={result.ok ? 'result ok' : result.conflict ? 'result conflict' : 'result error'} data-result>
          {result.text}
        </p>
      )}
    </section>
  );
}
