// A real `cartservice serve` on the embedded default (SQLite, events to a file), started by the
// tests from the repository's virtualenv.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../../../..");
const PYTHON = join(ROOT, ".venv/bin/python");

export class ServerProcess {
  private constructor(
    private readonly process: ChildProcess,
    readonly port: number,
    readonly dataDir: string,
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(
    dataDir = mkdtempSync(join(tmpdir(), "cartservice-ts-")),
    port = 0,
    extra: string[] = [],
  ) {
    const child = spawn(
      PYTHON,
      ["-m", "server", "serve", "--port", String(port), "--data-dir", dataDir, ...extra],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    const serving = await new Promise<number>((done, fail) => {
      let log = "";
      const timer = setTimeout(() => fail(new Error(`server did not start:\n${log}`)), 30_000);
      const read = (chunk: Buffer) => {
        log += chunk.toString();
        const found = /serving on [\d.]+:(\d+)/.exec(log);
        if (found) {
          clearTimeout(timer);
          done(Number(found[1]));
        }
      };
      child.stdout!.on("data", read);
      child.stderr!.on("data", read);
      child.on("exit", (code) => fail(new Error(`server exited (${code}):\n${log}`)));
    });
    return new ServerProcess(child, serving, dataDir);
  }

  token(userId = "1"): string {
    return execFileSync(PYTHON, ["-m", "server", "token", "--data-dir", this.dataDir,
      "--user-id", userId, "--collection-id", "4982", "--roles", "ROLE_USER"], { cwd: ROOT })
      .toString().trim();
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null) return;
    const exited = new Promise((done) => this.process.once("exit", done));
    this.process.kill("SIGTERM");
    await exited;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((done) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => done(port));
    });
  });
}
