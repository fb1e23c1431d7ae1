/**
 * What a checkpoint code (KKMC after stage 03) may look like: 1–40 characters of ASCII letters,
 * digits, `_` and `-` (`S325_Suining_K63`, `KK_XZSX_1a2b`). Stage 03 makes only such codes, and
 * every place a code enters from outside the ETL (stream records, `load`, API filters) checks it
 * here, so a code can never carry markup, quotes, spaces or control characters into a page, a
 * log line, a SQL statement or a spreadsheet.
 */
export const MAX_CODE_LENGTH = 40;

const CODE_RE = /^[A-Za-z0-9_-]{1,40}$/;

export function isValidCheckpointCode(code: string): boolean {
  return CODE_RE.test(code);
}

/** Why a KKMC value is not a checkpoint code, or null when it is one. The value is shown quoted and cut short. */
export function checkpointCodeProblem(code: string): string | null {
  if (CODE_RE.test(code)) return null;
  if (code === '') return 'KKMC empty';
  const shown = code.length > 48 ? code.slice(0, 48) + '…' : code;
  return `KKMC not a checkpoint code (1–${MAX_CODE_LENGTH} of A-Z a-z 0-9 _ -): ${JSON.stringify(shown)}`;
}
