import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LogEntry } from '../lib/api';
import { fakeApi, json } from '../test/fakeApi';
import { LogsViewer, PAGE_SIZE } from './LogsViewer';

/** A controllable EventSource. */
class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static instances: FakeEventSource[] = [];
  readyState = FakeEventSource.CONNECTING;
  onopen: (() => void) | null = null;
  onmessage: ((event: MessageEvent<string>) => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }
  open() {
    this.readyState = FakeEventSource.OPEN;
    this.onopen?.();
  }
  send(entry: LogEntry) {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(entry) }));
  }
  close() {
    this.closed = true;
    this.readyState = FakeEventSource.CLOSED;
  }
}

function entry(message: string, level: LogEntry['level'] = 'info', second = 0): LogEntry {
  return { timestamp: `2026-11-25T12:00:${String(second).padStart(2, '0')}.000Z`, level, plugin: 'hello', message, fields: { stream: 'stderr' } };
}

beforeEach(() => {
  FakeEventSource.instances = [];
  vi.stubGlobal('EventSource', FakeEventSource);
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('LogsViewer', () => {
  it('pages through entries newest first, filtered by level', async () => {
    const user = userEvent.setup();
    const asked: string[] = [];
    fakeApi({
      'GET /api/plugins/hello/logs': ({ url }) => {
        asked.push(url.search);
        const page = Number(url.searchParams.get('page'));
        const level = url.searchParams.get('level');
        if (level === 'error') return json({ entries: [entry('boom', 'error')], page: 0, page_size: PAGE_SIZE, has_more: false });
        return json({
          entries: page === 0 ? [entry('newest', 'info', 2), entry('older', 'warn', 1)] : [entry('oldest', 'info', 0)],
          page,
          page_size: PAGE_SIZE,
          has_more: page === 0,
        });
      },
    });
    render(<LogsViewer pluginId="hello" pluginName="Hello" onClose={vi.fn()} />);
    const dialog = screen.getByRole('dialog', { name: 'Logs — Hello' });
    await waitFor(() => expect(within(dialog).getAllByTestId('log-entry')).toHaveLength(2));
    expect(within(dialog).getAllByTestId('log-entry').map((r) => r.textContent)).toEqual([
      expect.stringContaining('newest'),
      expect.stringContaining('older'),
    ]);
    expect(screen.getAllByText('stream=stderr')).toHaveLength(2);
    expect((screen.getByTestId('logs-newer') as HTMLButtonElement).disabled).toBe(true);

    await user.click(screen.getByTestId('logs-older'));
    await waitFor(() => expect(screen.getByTestId('logs-entries').textContent).toContain('oldest'));
    expect(screen.getByTestId('logs-page').textContent).toBe('Page 2');
    expect((screen.getByTestId('logs-older') as HTMLButtonElement).disabled).toBe(true);

    await user.selectOptions(screen.getByLabelText('Level'), 'error');
    await waitFor(() => expect(screen.getByTestId('logs-entries').textContent).toContain('boom'));
    expect(screen.getByTestId('logs-page').textContent).toBe('Page 1');
    expect(asked.at(-1)).toBe('?page=0&page_size=50&level=error');
  });

  it('follows new entries over server-sent events, without duplicates', async () => {
    const user = userEvent.setup();
    fakeApi({
      'GET /api/plugins/hello/logs': () => json({ entries: [entry('from the page', 'info', 1)], page: 0, page_size: PAGE_SIZE, has_more: true }),
    });
    render(<LogsViewer pluginId="hello" pluginName="Hello" onClose={vi.fn()} />);
    await screen.findByText('from the page');
    await user.click(screen.getByRole('switch', { name: 'Follow new entries' }));
    expect(FakeEventSource.instances).toHaveLength(1);
    const source = FakeEventSource.instances[0]!;
    expect(source.url).toBe('/api/plugins/hello/logs/follow');
    expect(screen.getByTestId('logs-connection').textContent).toBe('Connecting…');
    act(() => source.open());
    expect(screen.getByTestId('logs-connection').textContent).toBe('Live');
    expect((screen.getByTestId('logs-older') as HTMLButtonElement).disabled).toBe(true);

    act(() => source.send(entry('live one', 'info', 5)));
    act(() => source.send(entry('live one', 'info', 5)));
    act(() => source.send(entry('from the page', 'info', 1)));
    const rows = screen.getAllByTestId('log-entry').map((r) => r.textContent);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain('live one');
    expect(rows[1]).toContain('from the page');
    act(() => source.send(entry('live two', 'info', 6)));
    expect(screen.getAllByTestId('log-entry')[0]!.textContent).toContain('live two');

    await user.click(screen.getByRole('switch', { name: 'Follow new entries' }));
    expect(source.closed).toBe(true);
  });

  it('closes with Escape', async () => {
    fakeApi({ 'GET /api/plugins/hello/logs': () => json({ entries: [], page: 0, page_size: PAGE_SIZE, has_more: false }) });
    const onClose = vi.fn();
    render(<LogsViewer pluginId="hello" pluginName="Hello" onClose={onClose} />);
    expect(await screen.findByText('No log entries match.')).toBeTruthy();
    await userEvent.keyboard('{Escape}');
    expect(onClose).toHaveBeenCalledTimes(1);
  });
});
