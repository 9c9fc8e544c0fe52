import { useId } from 'react';
import type { DiscoveryFailure } from '../lib/api';
import { basename } from '../lib/skipped';

/** The `*.binary` files the daemon skipped at its last scan, each with its reason: a warning on
 *  the plugins page, shown only while there are some. */
export function SkippedBinaries({ failures }: { failures: readonly DiscoveryFailure[] }) {
  const titleId = useId();
  if (failures.length === 0) return null;
  const count = failures.length;
  return (
    <section className="notice notice-warning skipped" aria-labelledby={titleId} data-testid="skipped-binaries">
      <h2 className="skipped-title" id={titleId}>
        {count} {count === 1 ? 'file' : 'files'} skipped
      </h2>
      <p className="skipped-help">
        {count === 1
          ? 'Toru could not load this file in the plugins directory as a plugin. Fix or remove it, then rescan.'
          : 'Toru could not load these files in the plugins directory as plugins. Fix or remove them, then rescan.'}
      </p>
      <ul className="skipped-list">
        {failures.map((failure) => (
          <li key={failure.binary} className="skipped-item" data-testid="skipped-binary" data-binary={failure.binary}>
            <code className="skipped-file" title={failure.binary}>
              {basename(failure.binary)}
            </code>
            <span className="skipped-reason">{failure.reason}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
