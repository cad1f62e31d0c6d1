/**
 * The page's small shared pieces: a disclosure panel whose open state the lesson remembers (`setPanelOpen`),
 * and the one-line error a control shows under itself.
 */
import type { ReactNode } from 'react';

import { setPanelOpen } from '../store/actions.ts';
import type { AppState } from '../store/store.ts';

type PanelName = AppState['lesson']['panels'][number];

/** `<details className="panel {className}">` with `title` as its summary; toggling it records the panel. */
export function Panel({
  panel,
  className,
  testId,
  open,
  title,
  children,
}: {
  panel: PanelName;
  className: string;
  testId: string;
  open: boolean;
  title: ReactNode;
  children?: ReactNode;
}) {
  return (
    <details
      className={`panel ${className}`}
      open={open}
      onToggle={(e) => setPanelOpen(panel, e.currentTarget.open)}
      data-testid={testId}
    >
      <summary>{title}</summary>
      {children}
    </details>
  );
}

/** A control's problem as one status line (nothing when there is none): a `span`, or a `p` on its own line. */
export function FieldError({
  problem,
  testId,
  block = false,
}: {
  problem: string | null;
  testId?: string;
  block?: boolean;
}) {
  if (problem === null) return null;
  const Tag = block ? 'p' : 'span';
  return (
    <Tag className="field-error" role="status" data-testid={testId}>
      {problem}
    </Tag>
  );
}
