// Whether a plugin's binary is signed by a vendor the administrator trusts (docs/signing.md):
// one small line on the card and the plugin's page — "Signed by acme", "Unsigned", "Bad
// signature: …" — and nothing when the daemon does not check signatures.

import type { SignatureStatus } from '../lib/api';
import type { LicenseTone } from './LicenseBadge';

/** The words and colour for a signature status; `null` when there is nothing to say. */
export function signatureSummary(signature: SignatureStatus | undefined): { tone: LicenseTone; text: string } | null {
  switch (signature?.state) {
    case 'signed':
      return { tone: 'good', text: `Signed by ${signature.key}` };
    case 'unsigned':
      return { tone: 'neutral', text: 'Unsigned' };
    case 'invalid':
      return { tone: 'bad', text: `Bad signature: ${signature.reason}` };
    default:
      // `not_checked`, or a daemon that predates signatures.
      return null;
  }
}

interface SignatureBadgeProps {
  signature: SignatureStatus | undefined;
  testId?: string;
}

/** The signature state as a small coloured badge; `data-state` is the daemon's state. */
export function SignatureBadge({ signature, testId }: SignatureBadgeProps) {
  const summary = signatureSummary(signature);
  if (!summary || !signature) return null;
  return (
    <span className={`signature-badge signature-${summary.tone}`} data-testid={testId} data-state={signature.state} title={summary.text}>
      {summary.text}
    </span>
  );
}
