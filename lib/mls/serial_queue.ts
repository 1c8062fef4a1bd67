/**
 * A one-at-a-time queue for asynchronous operations.
 *
 * ts-mls is functional: every operation takes a group state and returns the next one, and even
 * encrypting or decrypting an application message advances the secret tree. Two overlapping
 * operations on one member would both start from the same state and one result would be lost
 * (or a ratchet key reused), so a member runs its operations through one of these.
 * @module
 */

/** Runs the functions given to {@link run} one after another, in call order. */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once every earlier operation has settled; settles like `fn`. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(ignore, ignore);
    return result;
  }
}

function ignore(): void {}
