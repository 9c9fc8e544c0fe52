import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { SignatureBadge, signatureSummary } from './SignatureBadge';

describe('signatureSummary', () => {
  it('names the trusted key, says unsigned, gives the reason of a bad one, and says nothing when not checked', () => {
    expect(signatureSummary({ state: 'signed', key: 'acme' })).toEqual({ tone: 'good', text: 'Signed by acme' });
    expect(signatureSummary({ state: 'unsigned' })).toEqual({ tone: 'neutral', text: 'Unsigned' });
    expect(signatureSummary({ state: 'invalid', reason: 'signed with a key that is not trusted' })).toEqual({
      tone: 'bad',
      text: 'Bad signature: signed with a key that is not trusted',
    });
    expect(signatureSummary({ state: 'not_checked' })).toBeNull();
    expect(signatureSummary(undefined)).toBeNull();
  });
});

describe('SignatureBadge', () => {
  it('shows the state with the daemon’s state name, and renders nothing when not checked', () => {
    const { rerender } = render(<SignatureBadge signature={{ state: 'signed', key: 'acme' }} testId="sig" />);
    expect(screen.getByTestId('sig').textContent).toBe('Signed by acme');
    expect(screen.getByTestId('sig').getAttribute('data-state')).toBe('signed');
    rerender(<SignatureBadge signature={{ state: 'not_checked' }} testId="sig" />);
    expect(screen.queryByTestId('sig')).toBeNull();
  });
});
