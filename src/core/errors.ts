/** The first line of an error's message: every error the playground reports is one line. */
export function errorMessage(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
}
