/** A small busy indicator with a text alternative. */
export function Spinner({ label = 'Loading…', small }: { label?: string; small?: boolean }) {
  return (
    <span className="spinner-wrap" role="status">
      <span className={`spinner${small ? ' spinner-small' : ''}`} aria-hidden="true" />
      <span className="visually-hidden">{label}</span>
    </span>
  );
}
