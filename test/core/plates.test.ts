import { describe, expect, it } from 'vitest';
import { classifyPlate, lacksProvince, newEnergyMarker, normalizePlate, provinceFreeStem } from '../../core/plates.ts';

describe('normalizePlate', () => {
  it.each([
    ['苏c·d7***', '苏CD7***'],
    [' 苏 C 12345 ', '苏C12345'],
    ['苏C-12345', '苏C12345'],
    ['苏Ｃ１２３４５', '苏C12345'],
    ['4皖LG***', '皖LG***'],
    ['T苏C1***', '苏C1***'],
    ['车苏C12***', '苏C12***'],
    ['-***', '-***'],
    ['', ''],
    ['C379***', 'C379***'],
    ['京***', '京***'],
    ['J678***', 'J678***'],
    // Two province characters: either could be the real one, so nothing is removed.
    ['苏宁C8***', '苏宁C8***'],
    ['4苏宁C8***', '4苏宁C8***'],
    ['WJ苏12345', 'WJ苏12345'],
  ])('%s → %s', (raw, want) => {
    expect(normalizePlate(raw)).toBe(want);
  });
});

describe('classifyPlate', () => {
  it.each([
    ['苏C12345', 'FULL'],
    ['苏CD12345', 'FULL'], // new energy, 8 characters
    ['苏C1234学', 'FULL'],
    ['使014001', 'FULL'],
    ['苏CD7***', 'MASKED'],
    ['苏C1***', 'MASKED'],
    ['4皖LG***', 'MASKED'], // junk removed first
    ['苏c·d7***', 'MASKED'],
    ['-***', 'INVALID'],
    ['C379***', 'INVALID'], // province missing
    ['京***', 'INVALID'],
    ['J678***', 'INVALID'],
    ['苏C***', 'INVALID'], // nothing visible after the office letter
    ['苏0C0***', 'INVALID'],
    ['苏宁C8***', 'INVALID'],
    ['1111***', 'INVALID'],
    ['', 'INVALID'],
  ])('%s is %s', (raw, want) => {
    expect(classifyPlate(raw)).toBe(want);
  });
});

describe('plate evidence helpers', () => {
  it('recognises a plate that lost only its province character', () => {
    expect(lacksProvince('C379***')).toBe(true);
    expect(lacksProvince('J678***')).toBe(true);
    expect(lacksProvince('CR15***')).toBe(true);
    expect(lacksProvince('C12345')).toBe(true);
    expect(lacksProvince('苏C37***')).toBe(false);
    expect(lacksProvince('-***')).toBe(false);
    expect(lacksProvince('1111***')).toBe(false);
    expect(lacksProvince('A***')).toBe(false);
  });

  it('reads the new-energy marker after the office letter, with or without the province', () => {
    expect(newEnergyMarker('苏CD7***')).toBe('DF');
    expect(newEnergyMarker('苏CF12345')).toBe('DF');
    expect(newEnergyMarker('CD79***')).toBe('DF');
    expect(newEnergyMarker('苏C17***')).toBe('x');
    expect(newEnergyMarker('-***')).toBe('');
  });

  it('keeps the same stem for a plate with and without its province', () => {
    expect(provinceFreeStem('苏CD7***')).toBe('CD7');
    expect(provinceFreeStem('CD79***')).toBe('CD7');
    expect(provinceFreeStem('京***')).toBe('');
  });
});
