import { act, render } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { usePolling } from './polling';

let visibility: DocumentVisibilityState = 'visible';

beforeEach(() => {
  vi.useFakeTimers();
  visibility = 'visible';
  vi.spyOn(document, 'visibilityState', 'get').mockImplementation(() => visibility);
});

afterEach(() => {
  vi.useRealTimers();
});

function setVisibility(value: DocumentVisibilityState) {
  visibility = value;
  document.dispatchEvent(new Event('visibilitychange'));
}

function Poller({ tick }: { tick: () => Promise<void> }) {
  usePolling(tick, 2000, []);
  return null;
}

describe('usePolling', () => {
  it('polls every interval while visible, pauses while hidden and catches up when shown', async () => {
    const tick = vi.fn(async () => undefined);
    const { unmount } = render(<Poller tick={tick} />);
    await act(async () => undefined);
    expect(tick).toHaveBeenCalledTimes(1);

    await act(() => vi.advanceTimersByTimeAsync(2000));
    expect(tick).toHaveBeenCalledTimes(2);

    act(() => setVisibility('hidden'));
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    expect(tick).toHaveBeenCalledTimes(2);

    await act(async () => setVisibility('visible'));
    expect(tick).toHaveBeenCalledTimes(3);
    await act(() => vi.advanceTimersByTimeAsync(2000));
    expect(tick).toHaveBeenCalledTimes(4);

    unmount();
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    expect(tick).toHaveBeenCalledTimes(4);
  });

  it('never runs two ticks at once', async () => {
    let finish: () => void = () => undefined;
    const tick = vi.fn(() => new Promise<void>((resolve) => (finish = resolve)));
    render(<Poller tick={tick} />);
    await act(async () => undefined);
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    expect(tick).toHaveBeenCalledTimes(1);
    await act(async () => finish());
    await act(() => vi.advanceTimersByTimeAsync(2000));
    expect(tick).toHaveBeenCalledTimes(2);
  });
});
