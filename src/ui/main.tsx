/**
 * The web console (served by `ordo serve` at `/`): Preact, bundled by scripts/build-console.mjs
 * into dist/console with no CDN. It speaks the HTTP API of the page's own origin.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, setToken, token, type Whoami } from './api';
import { Append } from './append';
import { Overview } from './overview';
import { Patterns } from './patterns';
import { StreamView, Streams } from './streams';
import { Tail } from './tail';

function useRoute(): string {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const changed = () => setHash(location.hash || '#/');
    addEventListener('hashchange', changed);
    // The effect runs after the first render: a change in between fired before anyone listened.
    changed();
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash.slice(1);
}

function App() {
  const route = useRoute();
  const [who, setWho] = useState<Whoami | undefined>(undefined);
  const [needToken, setNeedToken] = useState(false);
  const [tokenError, setTokenError] = useState('');
  const check = () =>
    api<Whoami>('/whoami').then(
      (w) => (setWho(w), setNeedToken(false), setTokenError('')),
      (e: unknown) => {
        if (e instanceof ApiError && e.status === 401) {
          setNeedToken(true);
          if (token()) setTokenError('that token was refused');
        } else setTokenError(String(e));
      },
    );
  useEffect(() => void check(), []);
  if (needToken) return <Login error={tokenError} onToken={(t) => (setToken(t), void check())} />;
  if (!who) return <p class="muted">{tokenError || 'connecting…'}</p>;
  const canAdmin = who.scopes.includes('admin');
  const canWrite = who.scopes.includes('write') || canAdmin;
  const page = route.startsWith('/streams/') ? (
    <StreamView name={decodeURIComponent(route.slice('/streams/'.length))} canWrite={canWrite} canErase={canAdmin} />
  ) : route === '/streams' ? (
    <Streams />
  ) : route === '/tail' ? (
    <Tail />
  ) : route === '/append' ? (
    canWrite ? (
      <Append />
    ) : (
      <p class="warning">this token may not write (scopes: {who.scopes.join(', ')})</p>
    )
  ) : route === '/patterns' ? (
    <Patterns />
  ) : (
    <Overview canAdmin={canAdmin} />
  );
  const link = (href: string, label: string) => (
    <a class={route === href || (href !== '/' && route.startsWith(href)) ? 'active' : ''} href={`#${href}`}>
      {label}
    </a>
  );
  return (
    <>
      <header>
        <h1>Ordo</h1>
        <nav>
          {link('/', 'Overview')}
          {link('/streams', 'Streams')}
          {link('/tail', 'Live tail')}
          {canWrite && link('/append', 'Append')}
          {link('/patterns', 'Models & consumers')}
        </nav>
        <span class="who">
          {who.authRequired ? `${who.name} (${who.scopes.join(', ')})` : 'open server (no tokens)'}
          {who.authRequired && (
            <button type="button" class="link" onClick={() => (setToken(''), location.reload())}>
              sign out
            </button>
          )}
        </span>
      </header>
      <main>{page}</main>
    </>
  );
}

function Login({ error, onToken }: { error: string; onToken: (token: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <form class="login" onSubmit={(e) => (e.preventDefault(), onToken(value))}>
      <h1>Ordo</h1>
      <p>This server needs a token. It is kept for this browser session only.</p>
      <input
        type="password"
        name="token"
        placeholder="token"
        value={value}
        onInput={(e) => setValue((e.target as HTMLInputElement).value)}
      />
      <button type="submit">sign in</button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}

render(<App />, document.getElementById('app')!);
