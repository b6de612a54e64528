/** A FIFO with O(1) push, shift and unshift (a ring buffer that grows). */
export class Deque<T> {
  private buffer: (T | undefined)[] = new Array<T | undefined>(16);
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(value: T): void {
    this.grow();
    this.buffer[(this.head + this.size) % this.buffer.length] = value;
    this.size += 1;
  }

  unshift(value: T): void {
    this.grow();
    this.head = (this.head - 1 + this.buffer.length) % this.buffer.length;
    this.buffer[this.head] = value;
    this.size += 1;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const value = this.buffer[this.head];
    this.buffer[this.head] = undefined;
    this.head = (this.head + 1) % this.buffer.length;
    this.size -= 1;
    return value;
  }

  private grow(): void {
    if (this.size < this.buffer.length) return;
    const next = new Array<T | undefined>(this.buffer.length * 2);
    for (let i = 0; i < this.size; i += 1) next[i] = this.buffer[(this.head + i) % this.buffer.length];
    this.buffer = next;
    this.head = 0;
  }
}
