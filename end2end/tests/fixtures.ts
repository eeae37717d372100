import { expect, test as base } from "@playwright/test";

/** What a page printed as an error, and what a test said to expect. */
export type ConsoleErrors = {
  /** Every console error and uncaught exception so far, in order. */
  readonly seen: string[];
  /** Declares that an error matching `pattern` will be printed (once or more); it then fails no test. */
  allow(pattern: RegExp): void;
};

/**
 * Every browser test runs under this fixture: any console error or uncaught
 * exception on any page fails the test, unless the test declared it expected.
 * A release build that stops hydrating cannot pass.
 */
export const test = base.extend<{ consoleErrors: ConsoleErrors }>({
  consoleErrors: [
    async ({ page }, use) => {
      const seen: string[] = [];
      const allowed: RegExp[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") seen.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => seen.push(`exception: ${e.message}`));
      await use({ seen, allow: (pattern) => allowed.push(pattern) });
      const unexpected = seen.filter((s) => !allowed.some((p) => p.test(s)));
      expect(unexpected, "no console error or uncaught exception in the browser").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };
