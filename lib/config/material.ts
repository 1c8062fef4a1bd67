/**
 * Reads what configurations point at (certificates, keys, CA bundles), with errors naming the
 * configuration path.
 * @module
 */
import { readFile } from "node:fs/promises";
import { ConfigError } from "../errors.ts";
import type { CaSource } from "./schema.ts";

/** Reads a file named by the configuration key `path`. */
export async function readConfigFile(file: string, path: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read ${JSON.stringify(file)}: ${(e as Error).message}`, {
      path,
      cause: e,
    });
  }
}

/** The PEM text of a CA source (undefined for `none`). SPIRE is not supported by slim-ts. */
export async function caPem(source: CaSource, path: string): Promise<string | undefined> {
  switch (source.type) {
    case "none":
      return undefined;
    case "file":
      return await readConfigFile(source.path, `${path}.path`);
    case "pem":
      return source.data;
    case "spire":
      throw new ConfigError("SPIRE trust bundles are not supported by slim-ts", { path });
  }
}
