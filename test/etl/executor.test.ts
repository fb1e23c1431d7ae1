/**
 * The one executor's plan: stages 02..to in fused segments, split where a stage scans, each placed
 * here or in a stage thread. (That the placement changes no output is test/etl/stage-thread.test.ts,
 * test/etl/memory.test.ts and test/etl/resume.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { planSegments } from '../../etl/executor.ts';

describe('planSegments', () => {
  it('splits 02..05 where 04 scans, and places both segments in threads on a run from stage 01', () => {
    expect(planSegments(2, 5, true, true)).toEqual([
      { stages: [2, 3], placement: 'thread' },
      { stages: [4, 5], placement: 'thread' },
    ]);
  });

  it('keeps every segment here without stage threads', () => {
    expect(planSegments(2, 5, false, true)).toEqual([
      { stages: [2, 3], placement: 'here' },
      { stages: [4, 5], placement: 'here' },
    ]);
  });

  it('keeps every segment here on a run from a stage file', () => {
    expect(planSegments(2, 5, true, false)).toEqual([
      { stages: [2, 3], placement: 'here' },
      { stages: [4, 5], placement: 'here' },
    ]);
    expect(planSegments(4, 5, true, false)).toEqual([{ stages: [4, 5], placement: 'here' }]);
  });

  it('keeps a segment here when nothing of it could leave (04 alone)', () => {
    expect(planSegments(4, 4, true, true)).toEqual([{ stages: [4], placement: 'here' }]);
  });
});
