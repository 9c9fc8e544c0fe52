import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiError, fakeApi, json, plugin } from '../test/fakeApi';
import * as api from './api';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('request', () => {
  it('sends JSON with the session cookie and parses the answer', async () => {
    const fetch = fakeApi({
      'POST /api/auth/login': ({ body, init }) => {
        expect(body).toEqual({ username: 'admin', password: 'pw' });
        expect(init.credentials).toBe('same-origin');
        expect((init.headers as Record<string, string>)['content-type']).toBe('application/json');
        return json({ username: 'admin', method: 'password' });
      },
    });
    await expect(api.login('admin', 'pw')).resolves.toEqual({ username: 'admin', method: 'password' });
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('throws an ApiError with the daemon’s status, code and message', async () => {
    fakeApi({ 'GET /api/plugins/nope': () => apiError(404, 'not_found', 'no plugin with id "nope"') });
    const error = await api.getPlugin('nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(api.ApiError);
    expect(error).toMatchObject({ status: 404, code: 'not_found', message: 'no plugin with id "nope"' });
  });

  it('keeps the status text when the error body is not the daemon’s JSON', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' })));
    await expect(api.status()).rejects.toMatchObject({ status: 502, code: 'http_502', message: 'Bad Gateway' });
  });

  it('reads Retry-After on 429', async () => {
    fakeApi({
      'POST /api/auth/login': () => apiError(429, 'rate_limited', 'too many login attempts', { 'retry-after': '30' }),
    });
    await expect(api.login('a', 'b')).rejects.toMatchObject({ status: 429, code: 'rate_limited', retryAfter: 30 });
  });

  it('turns a network failure into an ApiError with status 0', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    await expect(api.listPlugins()).rejects.toMatchObject({ status: 0, code: 'network' });
  });

  it('lets an abort through as an AbortError', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new DOMException('Aborted', 'AbortError'))));
    await expect(api.listPlugins()).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('answers undefined for 204', async () => {
    fakeApi({ 'POST /api/auth/logout': () => new Response(null, { status: 204 }) });
    await expect(api.logout()).resolves.toBeUndefined();
  });

  it('reports invalid JSON in a success answer', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response('not json', { status: 200 })));
    await expect(api.listPlugins()).rejects.toMatchObject({ code: 'invalid_response' });
  });
});

describe('401 handling', () => {
  it('calls the unauthorized handler for ordinary calls', async () => {
    fakeApi({ 'GET /api/plugins': () => apiError(401, 'unauthorized', 'log in first') });
    const handler = vi.fn();
    const stop = api.onUnauthorized(handler);
    await expect(api.listPlugins()).rejects.toMatchObject({ status: 401 });
    expect(handler).toHaveBeenCalledTimes(1);
    stop();
    await expect(api.listPlugins()).rejects.toMatchObject({ status: 401 });
    expect(handler).toHaveBeenCalledTimes(1);
  });

  it('does not for a failed login or the first session check', async () => {
    fakeApi({
      'POST /api/auth/login': () => apiError(401, 'invalid_credentials', 'wrong user name or password'),
      'GET /api/auth/me': () => apiError(401, 'unauthorized', 'log in first'),
    });
    const handler = vi.fn();
    const stop = api.onUnauthorized(handler);
    await expect(api.login('admin', 'wrong')).rejects.toMatchObject({ code: 'invalid_credentials' });
    await expect(api.me({ redirect: false })).rejects.toMatchObject({ status: 401 });
    expect(handler).not.toHaveBeenCalled();
    await expect(api.me()).rejects.toMatchObject({ status: 401 });
    expect(handler).toHaveBeenCalledTimes(1);
    stop();
  });
});

describe('endpoints', () => {
  it('lists, enables, disables and restarts plugins at the right URLs', async () => {
    const fetch = fakeApi({
      'GET /api/plugins': () => json([plugin('a')]),
      'POST /api/plugins/a%20b/enable': () => json(plugin('a b', { status: { enabled: true } })),
      'POST /api/plugins/a/disable': () => json(plugin('a')),
      'POST /api/plugins/a%2Fb/restart': () => json(plugin('a/b', { status: { enabled: true, state: 'starting' } })),
    });
    expect((await api.listPlugins())[0]!.id).toBe('a');
    expect((await api.enablePlugin('a b')).status.enabled).toBe(true);
    expect((await api.disablePlugin('a')).status.enabled).toBe(false);
    expect((await api.restartPlugin('a/b')).status.state).toBe('starting');
    expect(fetch.unmatched).toEqual([]);
  });

  it('builds the logs query, leaving out empty values', async () => {
    const fetch = fakeApi({
      'GET /api/plugins/p/logs': ({ url }) => {
        expect(Object.fromEntries(url.searchParams)).toEqual({ page: '2', page_size: '50', level: 'warn' });
        return json({ entries: [], page: 2, page_size: 50, has_more: false });
      },
    });
    await api.pluginLogs('p', { page: 2, pageSize: 50, level: 'warn' });
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(api.withQuery('/x', { a: undefined, b: '', c: null, d: 0 })).toBe('/x?d=0');
    expect(api.followLogsUrl('p', '')).toBe('/api/plugins/p/logs/follow');
    expect(api.followLogsUrl('p', 'error')).toBe('/api/plugins/p/logs/follow?level=error');
  });

  it('asks for events with limit and plugin', async () => {
    fakeApi({
      'GET /api/events': ({ url }) => {
        expect(url.search).toBe('?limit=5&plugin=p');
        return json([]);
      },
    });
    await expect(api.events({ limit: 5, plugin: 'p' })).resolves.toEqual([]);
  });
});

describe('licence keys', () => {
  it('PUTs the trimmed key and DELETEs it at the plugin’s licence URL', async () => {
    const fetch = fakeApi({
      'PUT /api/plugins/a%20b/license': ({ body, init }) => {
        expect(body).toEqual({ key: 'TORU1.abc.def' });
        expect((init.headers as Record<string, string>)['content-type']).toBe('application/json');
        return json(plugin('a b', { license: { installed: true, state: 'unchecked', error: null } }));
      },
      'DELETE /api/plugins/a/license': ({ body }) => {
        expect(body).toBeUndefined();
        return json(plugin('a'));
      },
    });
    const set = await api.setLicense('a b', '  TORU1.abc.def\n');
    expect(set.license).toMatchObject({ installed: true, state: 'unchecked' });
    const cleared = await api.clearLicense('a');
    expect(cleared.license).toMatchObject({ installed: false, state: 'missing' });
    expect(fetch.unmatched).toEqual([]);
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  it('rejects a key the daemon refuses with its bad_license message', async () => {
    fakeApi({
      'PUT /api/plugins/hello/license': () =>
        apiError(400, 'bad_license', 'the licence key was issued for plugin "other", not "hello"'),
    });
    await expect(api.setLicense('hello', 'TORU1.x.y')).rejects.toMatchObject({
      status: 400,
      code: 'bad_license',
      message: 'the licence key was issued for plugin "other", not "hello"',
    });
  });
});

describe('plugin routes', () => {
  it('sends what the view bridge asks', async () => {
    const fetch = fakeApi({
      'POST /api/plugins/hello/route/counter/increment': ({ init }) => {
        expect(init.credentials).toBe('same-origin');
        return json({ count: 1 });
      },
    });
    const response = await api.viewFetch('/api/plugins/hello/route/counter/increment', { method: 'POST', credentials: 'same-origin' });
    expect(await response.json()).toEqual({ count: 1 });
    expect(fetch.unmatched).toEqual([]);
  });

  it('hands the plugin’s own errors back untouched, and checks the session on 401', async () => {
    const fetch = fakeApi({
      'GET /api/plugins/hello/route/missing': () => apiError(404, 'not_found', 'nope'),
      'GET /api/plugins/hello/route/secret': () => apiError(401, 'unauthorized', 'log in first'),
      'GET /api/auth/me': () => apiError(401, 'unauthorized', 'log in first'),
    });
    const handler = vi.fn();
    const stop = api.onUnauthorized(handler);
    expect((await api.viewFetch('/api/plugins/hello/route/missing', {})).status).toBe(404);
    expect(handler).not.toHaveBeenCalled();
    expect((await api.viewFetch('/api/plugins/hello/route/secret', {})).status).toBe(401);
    await vi.waitFor(() => expect(handler).toHaveBeenCalledTimes(1));
    expect(fetch.mock.calls.map((c) => String(c[0]))).toContain('/api/auth/me');
    stop();
  });
});
