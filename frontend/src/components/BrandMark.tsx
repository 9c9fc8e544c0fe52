/** Toru's mark: a torii gate, drawn in the current colour. */
export function BrandMark({ large }: { large?: boolean }) {
  return (
    <span className={`brand-mark${large ? ' brand-mark-large' : ''}`} aria-hidden="true">
      <svg viewBox="0 0 24 24" focusable="false">
        <path
          d="M3 6.2c5.6 1.3 12.4 1.3 18 0M5.5 10.5h13M8 7.4V20M16 7.4V20"
          stroke="currentColor"
          strokeWidth="2.2"
          strokeLinecap="round"
          fill="none"
        />
      </svg>
    </span>
  );
}
