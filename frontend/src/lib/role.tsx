// What the logged-in caller may do. A viewer sees everything and changes nothing: the daemon
// answers any change with 403 `admin_required`, so the dashboard disables those controls rather
// than offer what would be refused. Components outside a provider act as for an administrator.

import { createContext, useContext } from 'react';
import type { Role } from './api';

const RoleContext = createContext<Role>('admin');

/** Gives the caller's role (from `GET /api/auth/me`) to everything below. */
export const RoleProvider = RoleContext.Provider;

/** Whether the caller may only look: true for a viewer. */
export function useReadOnly(): boolean {
  return useContext(RoleContext) === 'viewer';
}

/** The title of every control a viewer sees disabled, saying why. */
export const READ_ONLY_REASON = 'Read-only: viewers can look but not change anything';
