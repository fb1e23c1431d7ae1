/** One line of the services:up report. */
export interface ServiceResult {
  name: string;
  where: string;
  ok: boolean;
  note: string;
}
