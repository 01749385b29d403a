// What the admin page's sections share: a failed call turned into a Problem
// to show next to its action, and a 403 (the caller is not an admin, or no
// longer one) reported to the page, which then says so instead of the tabs.
import { type InjectionKey, inject } from "vue";

import { type Problem, problem } from "../../api/errors";

/** Provided by AdminView: called when any admin call answers 403. */
export const FORBIDDEN: InjectionKey<(p: Problem) => void> = Symbol("admin-forbidden");

/** `problem()` that also tells the page about a 403. */
export function useAdminProblem(): (e: unknown) => Problem {
  const forbidden = inject(FORBIDDEN, () => undefined);
  return (e: unknown) => {
    const p = problem(e);
    if (p.status === 403) {
      forbidden(p);
    }
    return p;
  };
}
