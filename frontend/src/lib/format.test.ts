import { describe, expect, it } from 'vitest';
import { iconText, logTime, relativeTime } from './format';

describe('format', () => {
  it('says how long ago', () => {
    const now = 1_000_000_000_000;
    expect(relativeTime(now - 3_000, now)).toBe('just now');
    expect(relativeTime(now - 42_000, now)).toBe('42 s ago');
    expect(relativeTime(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(relativeTime(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(relativeTime(now - 3 * 86_400_000, now)).toBe('3 days ago');
  });

  it('shows log times without the date for today', () => {
    const now = new Date('2026-11-25T12:00:00Z');
    const today = logTime('2026-11-25T11:59:58.123Z', now);
    expect(today).toMatch(/^\d\d:\d\d:58\.123$/);
    expect(logTime('2026-11-20T11:59:58.123Z', now)).toMatch(/^2026-11-2\d \d\d:\d\d:58\.123$/);
    expect(logTime('not a time', now)).toBe('not a time');
  });

  it('shows emoji icons as they are and names as a letter', () => {
    expect(iconText('🐍')).toBe('🐍');
    expect(iconText('')).toBe('🧩');
    expect(iconText('server')).toBe('S');
  });
});
