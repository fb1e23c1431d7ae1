/** The plate functions the detector uses: the ETL's own normalization and FULL/MASKED/INVALID classes. */
import { classifyPlate, normalizePlate } from '../../core/plates.ts';
import type { PlateFns } from './core.ts';

export const ETL_PLATES: PlateFns = { normalize: normalizePlate, classify: classifyPlate };
