import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { pathToFileURL } from "node:url";

/**
 * Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe
 * (--remote-debugging-pipe: JSON messages ended by a NUL byte, commands on fd 3, replies and
 * events on fd 4), so the tests need no WebSocket client or browser library. One page per browser.
 */

type Message = { id?: number; method?: string; params?: any; result?: any; error?: { message: string }; sessionId?: string };

/** What a page reported while it loaded and ran: console errors, uncaught exceptions, failed loads. */
export interface PageProblems {
  errors: string[];
  /** Every URL the page requested (the page itself included). */
  requests: string[];
}

/** An open page: evaluate expressions in it, take screenshots, close the browser. */
export interface Page extends PageProblems {
  /** The value of a JavaScript expression in the page (a promise is awaited), as JSON. */
  evaluate<T>(expression: string): Promise<T>;
  /** Writes a PNG of the page at `width` CSS pixels to `path`: the whole page, or its top `height` pixels. */
  screenshot(path: string, width: number, height?: number): Promise<void>;
  close(): Promise<void>;
}

const COMMAND_TIMEOUT_MS = 30_000;

class DevTools {
  private nextId = 1;
  private buffer = "";
  private readonly pending = new Map<number, { resolve: (result: any) => void; reject: (error: Error) => void }>();
  private readonly listeners: ((message: Message) => void)[] = [];

  constructor(
    private readonly input: Writable,
    output: Readable,
    private readonly stderrTail: () => string,
  ) {
    output.setEncoding("utf8");
    output.on("data", (chunk: string) => {
      this.buffer += chunk;
      for (let end = this.buffer.indexOf("\0"); end >= 0; end = this.buffer.indexOf("\0")) {
        const message = JSON.parse(this.buffer.slice(0, end)) as Message;
        this.buffer = this.buffer.slice(end + 1);
        this.dispatch(message);
      }
    });
  }

  private dispatch(message: Message): void {
    if (message.id !== undefined) {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(`DevTools: ${message.error.message}`));
      else waiter?.resolve(message.result);
      return;
    }
    for (const listener of this.listeners) listener(message);
  }

  send(method: string, params: object = {}, sessionId?: string): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`DevTools: ${method} got no answer in ${COMMAND_TIMEOUT_MS} ms; chromium said: ${this.stderrTail()}`));
      }, COMMAND_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.input.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  }

  on(listener: (message: Message) => void): void {
    this.listeners.push(listener);
  }

  /** The next event named `method` (of `sessionId`). */
  next(method: string, sessionId: string): Promise<any> {
    return new Promise((resolve) => {
      const listener = (m: Message): void => {
        if (m.method !== method || m.sessionId !== sessionId) return;
        this.listeners.splice(this.listeners.indexOf(listener), 1);
        resolve(m.params);
      };
      this.listeners.push(listener);
    });
  }
}

/** Text of a console call's arguments. */
const consoleText = (args: { value?: unknown; description?: string }[]): string =>
  args.map((a) => (a.value !== undefined ? String(a.value) : (a.description ?? ""))).join(" ");

/**
 * Opens a local HTML file in headless Chromium and waits for its load event and two animation
 * frames (uPlot draws on the next frame).
 * @example const page = await openPage("report.html"); page.errors; await page.close();
 */
export async function openPage(file: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
  const profile = mkdtempSync(join(tmpdir(), "turbine-chromium-"));
  const args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--mute-audio"];
  const browser: ChildProcess = spawn("chromium", [...args, "--remote-debugging-pipe", `--user-data-dir=${profile}`, "about:blank"], {
    stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"],
  });
  let stderr = "";
  browser.stderr!.on("data", (d) => void (stderr = (stderr + d).slice(-2000)));
  browser.once("error", (error) => void (stderr += `cannot start chromium: ${error.message}`));
  const devtools = new DevTools(browser.stdio[3] as Writable, browser.stdio[4] as Readable, () => stderr.trim());
  const close = async (): Promise<void> => {
    const exited = new Promise<void>((resolve) => (browser.exitCode !== null || browser.pid === undefined ? resolve() : browser.once("exit", () => resolve())));
    await Promise.race([devtools.send("Browser.close").catch(() => {}), exited]);
    const killer = setTimeout(() => browser.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(killer);
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    const { targetId } = await devtools.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await devtools.send("Target.attachToTarget", { targetId, flatten: true });
    const problems: PageProblems = { errors: [], requests: [] };
    devtools.on((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === "Runtime.consoleAPICalled" && ["error", "assert"].includes(m.params.type))
        problems.errors.push(`console.${m.params.type}: ${consoleText(m.params.args)}`);
      if (m.method === "Runtime.exceptionThrown")
        problems.errors.push(`uncaught: ${m.params.exceptionDetails.exception?.description ?? m.params.exceptionDetails.text}`);
      if (m.method === "Log.entryAdded" && m.params.entry.level === "error") problems.errors.push(`log: ${m.params.entry.text} ${m.params.entry.url ?? ""}`);
      if (m.method === "Network.requestWillBeSent") problems.requests.push(m.params.request.url);
    });
    for (const domain of ["Page", "Runtime", "Log", "Network"]) await devtools.send(`${domain}.enable`, {}, sessionId);
    await devtools.send("Emulation.setDeviceMetricsOverride", { ...viewport, deviceScaleFactor: 1, mobile: false }, sessionId);
    const loaded = devtools.next("Page.loadEventFired", sessionId);
    await devtools.send("Page.navigate", { url: pathToFileURL(file).href }, sessionId);
    await loaded;
    const evaluate = async <T>(expression: string): Promise<T> => {
      const r = await devtools.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, sessionId);
      if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
      return r.result.value as T;
    };
    await evaluate("new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))");
    return {
      ...problems, // the same arrays: they keep filling while the page runs
      evaluate,
      screenshot: async (path, width, height) => {
        const pageHeight = await evaluate<number>("document.documentElement.scrollHeight");
        await devtools.send(
          "Emulation.setDeviceMetricsOverride",
          { width, height: Math.min(height ?? pageHeight, pageHeight), deviceScaleFactor: 1, mobile: false },
          sessionId,
        );
        await evaluate("new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))");
        const { data } = await devtools.send("Page.captureScreenshot", { format: "png" }, sessionId);
        writeFileSync(path, Buffer.from(data as string, "base64"));
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
