/**
 * A restricted unpickler: the stack machine of Python's pickle format (protocols 2 to 5, the opcodes a
 * `torch.save`d state dict uses), which never runs anything. A GLOBAL opcode only names a callable; the caller
 * passes the few it allows (`allowed`), each with a pure TypeScript stand-in, and every other name is refused
 * with one line saying which. REDUCE calls the stand-in; BUILD (setting an object's state) is only accepted on
 * dicts, where it is ignored. Nothing is imported, evaluated or called by name.
 * Opcode meanings: CPython `Lib/pickletools.py` (the documented opcode table) and `Lib/pickle.py` `_Unpickler`.
 * Every read is bounds-checked, the machine runs at most one opcode per input byte and never recurses, so any
 * input ends with a value or one Error.
 */

/** A Python tuple (lists are JS arrays, dicts are `PyDict`). */
export class PyTuple {
  constructor(readonly items: PickleValue[]) {}
}

/** A Python dict or OrderedDict with str/int/bool/None keys (all a state dict has). */
export class PyDict {
  readonly map = new Map<string | number | bigint | boolean | null, PickleValue>();
}

/** A name the GLOBAL opcode pushed, already checked against the allowed set. */
export class PyGlobal {
  constructor(
    readonly name: string,
    readonly allowed: AllowedGlobal,
  ) {}
}

/** Any value the machine can hold; `object` covers the values the caller's stand-ins return. */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | PyTuple
  | PyDict
  | PyGlobal
  | object;

export interface AllowedGlobal {
  /** Why a state dict needs this name (kept next to the name, where the allowed set is defined). */
  reason: string;
  /** The pure stand-in REDUCE calls with the argument tuple's items; absent: the name may not be called. */
  call?: (args: PickleValue[]) => PickleValue;
}

export interface UnpickleOptions {
  /** File name for messages. */
  origin: string;
  /** 'module.name' -> stand-in; everything else is refused. */
  allowed: ReadonlyMap<string, AllowedGlobal>;
  /** Resolves BINPERSID ids (torch: storages); absent: persistent ids are refused. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
}

const MARK = Symbol('mark');
type Slot = PickleValue | typeof MARK;

/** Reads `data` and returns the pickled value, or throws one Error line naming `origin` and the byte offset. */
export function unpickle(data: Uint8Array, opts: UnpickleOptions): PickleValue {
  return new Machine(data, opts).run();
}

class Machine {
  private pos = 0;
  private readonly stack: Slot[] = [];
  private readonly memo = new Map<number, PickleValue>();
  private readonly view: DataView;

  constructor(
    private readonly data: Uint8Array,
    private readonly opts: UnpickleOptions,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private fail(what: string, at = this.pos): never {
    throw new Error(`${this.opts.origin}: pickle byte ${at}: ${what}`);
  }

  private need(n: number): number {
    if (n < 0 || this.pos + n > this.data.length) this.fail(`truncated (needs ${n} more bytes)`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.data[this.need(1)] as number;
  }

  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }

  private line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) this.fail('truncated (a GLOBAL name has no newline)');
    const s = new TextDecoder('latin1').decode(this.data.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  private utf8(n: number): string {
    const at = this.need(n);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.data.subarray(at, at + n));
    } catch {
      return this.fail('a string is not valid UTF-8', at);
    }
  }

  private push(v: PickleValue): void {
    this.stack.push(v);
  }

  private pop(): PickleValue {
    const v = this.stack.pop();
    if (v === undefined) this.fail('stack underflow');
    if (v === MARK) this.fail('unexpected MARK');
    return v;
  }

  private top(): PickleValue {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined) this.fail('stack underflow');
    if (v === MARK) this.fail('unexpected MARK');
    return v;
  }

  /** The items above the topmost MARK, removed with it. */
  private popMark(): PickleValue[] {
    const i = this.stack.lastIndexOf(MARK);
    if (i < 0) this.fail('no MARK on the stack');
    const items = this.stack.splice(i) as PickleValue[];
    items.shift();
    return items;
  }

  private global(module: string, name: string): PyGlobal {
    const full = `${module}.${name}`;
    const allowed = this.opts.allowed.get(full);
    if (!allowed) {
      this.fail(
        `refused global ${full}: only the tensor rebuilders of a state dict are allowed, and nothing is run`,
      );
    }
    return new PyGlobal(full, allowed);
  }

  private reduce(): void {
    const args = this.pop();
    const fn = this.pop();
    if (!(fn instanceof PyGlobal)) this.fail('REDUCE of something that is not an allowed global');
    if (!(args instanceof PyTuple)) this.fail(`REDUCE of ${fn.name} without an argument tuple`);
    if (!fn.allowed.call) this.fail(`refused call of ${fn.name}: it may be named, not called`);
    try {
      this.push(fn.allowed.call(args.items));
    } catch (e) {
      this.fail(`${fn.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private setItems(dict: PickleValue, items: PickleValue[]): void {
    if (!(dict instanceof PyDict)) this.fail('SETITEM on something that is not a dict');
    if (items.length % 2 !== 0) this.fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i] as PickleValue;
      if (k !== null && typeof k === 'object') this.fail('a dict key is not a string or number');
      dict.map.set(k, items[i + 1] as PickleValue);
    }
  }

  private append(list: PickleValue, items: PickleValue[]): void {
    if (!Array.isArray(list)) this.fail('APPEND on something that is not a list');
    for (const item of items) (list as PickleValue[]).push(item);
  }

  private memoGet(i: number): void {
    if (!this.memo.has(i)) this.fail(`memo ${i} was never stored`);
    this.push(this.memo.get(i) as PickleValue);
  }

  private long(n: number): bigint | number {
    const at = this.need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.data[at + i] as number);
    if (n > 0 && ((this.data[at + n - 1] as number) & 0x80) !== 0) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  run(): PickleValue {
    for (;;) {
      const at = this.pos;
      const op = this.u8();
      if (op === 0x2e) {
        // STOP
        const v = this.pop();
        if (this.stack.length !== 0) this.fail('values left on the stack at STOP', at);
        return v;
      }
      this.step(op, at);
    }
  }

  private step(op: number, at: number): void {
    switch (op) {
      case 0x80: // PROTO
        if (this.u8() > 5) this.fail('pickle protocol above 5', at);
        return;
      case 0x95: // FRAME: a length hint only
        this.need(8);
        return;
      case 0x28: // MARK
        this.stack.push(MARK);
        return;
      case 0x7d: // EMPTY_DICT
        this.push(new PyDict());
        return;
      case 0x5d: // EMPTY_LIST
        this.push([]);
        return;
      case 0x29: // EMPTY_TUPLE
        this.push(new PyTuple([]));
        return;
      case 0x74: // TUPLE
        this.push(new PyTuple(this.popMark()));
        return;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const n = op - 0x84;
        const items: PickleValue[] = [];
        for (let i = 0; i < n; i++) items.unshift(this.pop());
        this.push(new PyTuple(items));
        return;
      }
      case 0x6c: // LIST
        this.push(this.popMark());
        return;
      case 0x64: {
        // DICT
        const d = new PyDict();
        this.setItems(d, this.popMark());
        this.push(d);
        return;
      }
      case 0x61: {
        // APPEND
        const item = this.pop();
        this.append(this.top(), [item]);
        return;
      }
      case 0x65: {
        // APPENDS
        const items = this.popMark();
        this.append(this.top(), items);
        return;
      }
      case 0x73: {
        // SETITEM
        const v = this.pop();
        const k = this.pop();
        this.setItems(this.top(), [k, v]);
        return;
      }
      case 0x75: {
        // SETITEMS
        const items = this.popMark();
        this.setItems(this.top(), items);
        return;
      }
      case 0x4a: // BININT
        this.push(this.view.getInt32(this.need(4), true));
        return;
      case 0x4b: // BININT1
        this.push(this.u8());
        return;
      case 0x4d: // BININT2
        this.push(this.view.getUint16(this.need(2), true));
        return;
      case 0x8a: // LONG1
        this.push(this.long(this.u8()));
        return;
      case 0x4e: // NONE
        this.push(null);
        return;
      case 0x88: // NEWTRUE
        this.push(true);
        return;
      case 0x89: // NEWFALSE
        this.push(false);
        return;
      case 0x47: // BINFLOAT (big-endian double)
        this.push(this.view.getFloat64(this.need(8), false));
        return;
      case 0x58: // BINUNICODE
        this.push(this.utf8(this.u32()));
        return;
      case 0x8c: // SHORT_BINUNICODE
        this.push(this.utf8(this.u8()));
        return;
      case 0x43: {
        // SHORT_BINBYTES
        const n = this.u8();
        const from = this.need(n);
        this.push(this.data.slice(from, from + n));
        return;
      }
      case 0x42: {
        // BINBYTES
        const n = this.u32();
        const from = this.need(n);
        this.push(this.data.slice(from, from + n));
        return;
      }
      case 0x71: // BINPUT
        this.memo.set(this.u8(), this.top());
        return;
      case 0x72: // LONG_BINPUT
        this.memo.set(this.u32(), this.top());
        return;
      case 0x94: // MEMOIZE
        this.memo.set(this.memo.size, this.top());
        return;
      case 0x68: // BINGET
        this.memoGet(this.u8());
        return;
      case 0x6a: // LONG_BINGET
        this.memoGet(this.u32());
        return;
      case 0x30: // POP
        if (this.stack.pop() === undefined) this.fail('stack underflow', at);
        return;
      case 0x31: // POP_MARK
        this.popMark();
        return;
      case 0x32: // DUP
        this.push(this.top());
        return;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = this.line();
        this.push(this.global(module, this.line()));
        return;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          this.fail('STACK_GLOBAL of non-strings', at);
        this.push(this.global(module, name));
        return;
      }
      case 0x52: // REDUCE
        this.reduce();
        return;
      case 0x62: {
        // BUILD: an OrderedDict's attributes (a state dict's `_metadata`) are dropped; nothing else is built.
        this.pop();
        if (!(this.top() instanceof PyDict)) this.fail('BUILD of an object that is not a dict', at);
        return;
      }
      case 0x51: {
        // BINPERSID
        const pid = this.pop();
        if (!this.opts.persistentLoad) this.fail('persistent ids are not allowed here', at);
        try {
          this.push(this.opts.persistentLoad(pid));
        } catch (e) {
          this.fail(e instanceof Error ? e.message : String(e), at);
        }
        return;
      }
      default:
        this.fail(
          `unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} (a state dict of tensors needs none)`,
          at,
        );
    }
  }
}
