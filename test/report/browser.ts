// Headless Chromium for the report tests: where it is, and one report page opened with
// every console message, page error and network request recorded, and its plots read back.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import type { Browser } from 'playwright-core';

export const CHROMIUM = process.env.MIXPPL_CHROMIUM ?? '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);

/** What one rendered plot looks like from the page. */
export interface RenderedPlot {
  id: string;
  text: string;
  rendered: string | null;
  error: string | null;
  w: number;
  h: number;
  marks: number;
}

/** Launches Chromium (call only when HAS_CHROMIUM). */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/**
 * Opens a report file, waits until every plot has rendered, and returns the page, its
 * console errors and warnings, page errors and non-file requests (a self-contained report
 * makes none), and each `.plot`'s SVG measurements.
 */
export async function openReport(browser: Browser, path: string) {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('request', (req) => { if (!req.url().startsWith('file:') && !req.url().startsWith('data:')) errors.push(`request: ${req.url()}`); });
  await page.goto(pathToFileURL(path).href);
  await page.waitForSelector('body[data-plots-done]', { timeout: 30_000 });
  const plots: RenderedPlot[] = await page.$$eval('.plot', (els) => els.map((el) => {
    const svg = el.querySelector('svg');
    const box = svg?.getBoundingClientRect();
    return { id: el.id, text: svg?.textContent ?? '', rendered: el.getAttribute('data-rendered'), error: el.getAttribute('data-error'), w: box?.width ?? 0, h: box?.height ?? 0, marks: el.querySelectorAll('svg path, svg line, svg rect').length };
  }));
  return { page, errors, plots };
}

/** Each plot rendered without error as a non-empty SVG (> 100 px each way, > 10 marks, no "undefined"/"NaN" text). */
export function expectPlotsRendered(plots: readonly RenderedPlot[], name: string): void {
  for (const p of plots) {
    expect(p.error, `${name} ${p.id}`).toBeNull();
    expect(p.rendered, `${name} ${p.id}`).toBe('true');
    expect(p.w, `${name} ${p.id}`).toBeGreaterThan(100);
    expect(p.h, `${name} ${p.id}`).toBeGreaterThan(100);
    expect(p.marks, `${name} ${p.id}`).toBeGreaterThan(10);
    expect(p.text, `${name} ${p.id}`).not.toMatch(/undefined|NaN/);
  }
}
