/**
 * Raw RFC 822 e-mail -> plain text for classification: the decoded Subject plus the readable body.
 * Headers end at the first blank line. MIME multipart bodies keep their text/plain parts, or the
 * text/html parts with tags stripped when there is no plain part. Quoted-printable and base64 parts are
 * decoded for UTF-8 and Latin-1/Windows-1252/ASCII charsets; other charsets keep only their ASCII bytes.
 * Pure string code (no TextDecoder, no DOM), so it runs in the worker, the UI and Node alike.
 * References: RFC 5322 (message format), RFC 2045/2046 (MIME, quoted-printable, base64, multipart),
 * RFC 2047 (encoded words in headers), WHATWG HTML (named character references; windows-1252 for latin1).
 */

export interface ParsedEmail {
  /** Decoded Subject header ('' when absent). */
  subject: string;
  /** Readable body text, whitespace collapsed. */
  body: string;
}

interface Part {
  headers: Map<string, string>;
  body: string;
}

interface ContentType {
  /** Lowercased `type/subtype` ('' when absent). */
  type: string;
  /** Lowercased parameter names; values as written. */
  params: Map<string, string>;
}

const MAX_DEPTH = 8;

/** Windows-1252 code points for bytes 0x80-0x9f (where it differs from ISO-8859-1). */
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d,
  0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a,
  0x153, 0x9d, 0x17e, 0x178,
];
const LATIN1_CHARSETS = new Set([
  '',
  'us-ascii',
  'ascii',
  'iso-8859-1',
  'iso8859-1',
  'latin1',
  'iso-8859-15',
  'windows-1252',
  'cp1252',
]);

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  copy: '©',
  reg: '®',
  trade: '™',
  hellip: '…',
  mdash: '—',
  ndash: '–',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  bull: '•',
  middot: '·',
  euro: '€',
  pound: '£',
  cent: '¢',
  yen: '¥',
  deg: '°',
  times: '×',
  laquo: '«',
  raquo: '»',
  iexcl: '¡',
  iquest: '¿',
};

/** Decodes bytes in `charset`: UTF-8 (Windows-1252 if invalid), Latin-1 family, else ASCII bytes only. */
export function decodeBytes(bytes: ArrayLike<number>, charset: string): string {
  const cs = charset.trim().toLowerCase();
  if (cs === 'utf-8' || cs === 'utf8') {
    const s = decodeUtf8(bytes);
    if (s !== null) return s;
  } else if (!LATIN1_CHARSETS.has(cs)) {
    let out = '';
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      if (b < 0x80) out += String.fromCharCode(b);
    }
    return out;
  }
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    out += String.fromCodePoint(b >= 0x80 && b < 0xa0 ? (CP1252_HIGH[b - 0x80] as number) : b);
  }
  return out;
}

/** Strict UTF-8 decoding; null on any invalid sequence. */
function decodeUtf8(bytes: ArrayLike<number>): string | null {
  let out = '';
  for (let i = 0; i < bytes.length;) {
    const b0 = bytes[i] as number;
    if (b0 < 0x80) {
      out += String.fromCharCode(b0);
      i++;
      continue;
    }
    // Lead byte -> number of continuation bytes, its payload bits, and the smallest legal code point.
    let need: number;
    let cp: number;
    let min: number;
    if (b0 >= 0xc2 && b0 < 0xe0) [need, cp, min] = [1, b0 & 0x1f, 0x80];
    else if (b0 >= 0xe0 && b0 < 0xf0) [need, cp, min] = [2, b0 & 0x0f, 0x800];
    else if (b0 >= 0xf0 && b0 < 0xf5) [need, cp, min] = [3, b0 & 0x07, 0x10000];
    else return null;
    for (let k = 1; k <= need; k++) {
      const b = bytes[i + k];
      if (b === undefined || (b & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
    out += String.fromCodePoint(cp);
    i += need + 1;
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

/** Base64 -> bytes (whitespace ignored); null if it is not simple, valid base64. */
export function decodeBase64(text: string): Uint8Array | null {
  const s = text.replace(/\s+/g, '').replace(/=+$/, '');
  if (s.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let bits = 0;
  let nBits = 0;
  let o = 0;
  for (const c of s) {
    const v = B64_INDEX.get(c);
    if (v === undefined) return null;
    bits = ((bits << 6) | v) & 0xffffff;
    nBits += 6;
    if (nBits >= 8) {
      nBits -= 8;
      out[o++] = (bits >> nBits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

/**
 * Quoted-printable -> text: soft line breaks removed, each run of `=XX` escapes decoded as bytes in
 * `charset`, other characters kept as they are (the raw text is already a JS string).
 */
export function decodeQuotedPrintable(text: string, charset: string): string {
  return text.replace(/=[ \t]*\r?\n/g, '').replace(/(?:=[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes: number[] = [];
    for (let i = 0; i < run.length; i += 3) bytes.push(parseInt(run.slice(i + 1, i + 3), 16));
    return decodeBytes(bytes, charset);
  });
}

/** RFC 2047 encoded words (`=?utf-8?B?...?=`, `=?iso-8859-1?Q?...?=`) in a header value. */
export function decodeEncodedWords(value: string): string {
  const word = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;
  // Whitespace between two adjacent encoded words is not part of the text (RFC 2047 §6.2).
  return value
    .replace(/(\?=)\s+(?==\?[^?\s]+\?[BbQq]\?)/g, '$1')
    .replace(word, (whole, cs: string, enc: string, data: string) => {
      const charset = cs.replace(/\*.*$/, '');
      if (enc === 'B' || enc === 'b') {
        const bytes = decodeBase64(data);
        return bytes === null ? whole : decodeBytes(bytes, charset);
      }
      return decodeQuotedPrintable(data.replace(/_/g, ' '), charset);
    });
}

/** Decodes `&amp;`, `&#233;`, `&#xE9;` and the common named references; unknown ones stay as written. */
export function decodeHtmlEntities(text: string): string {
  return text.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});?/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const cp = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      const ok = cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
      if (!ok) return ' ';
      return cp >= 0x80 && cp < 0xa0
        ? String.fromCodePoint(CP1252_HIGH[cp - 0x80] as number)
        : String.fromCodePoint(cp);
    }
    return NAMED_ENTITIES[ref.toLowerCase()] ?? whole;
  });
}

/** Inline elements vanish without a space (spam splits words with them: `V<b></b>iagra`). */
const INLINE_TAG = /<\/?(?:a|abbr|b|big|em|font|i|small|span|strong|sub|sup|u)\b[^>]*>/gi;

/** Visible text of an HTML document: comments, script/style/head dropped, tags removed, entities decoded. */
export function htmlToText(html: string): string {
  const noTags = html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style|head|title)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(INLINE_TAG, '')
    .replace(/<[/!?]?[a-zA-Z][^>]*>/g, ' ');
  return decodeHtmlEntities(noTags);
}

/** Heuristic for bodies that are HTML without saying so (common in spam). */
export function looksLikeHtml(text: string): boolean {
  if (/<(?:html|body|head)\b/i.test(text)) return true;
  const tags = text.match(/<\/?(?:a|b|br|center|div|font|img|p|span|table|td|tr)\b[^>]*>/gi);
  return tags !== null && tags.length >= 3;
}

/** Collapses every whitespace run to one space and trims. */
export function collapseWhitespace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Splits a message or MIME part at the first blank line and unfolds its headers (lowercased names). */
function splitPart(raw: string): Part {
  const text = raw.replace(/\r\n?/g, '\n');
  let headerText: string;
  let body: string;
  const blank = text.indexOf('\n\n');
  if (text.startsWith('\n')) {
    headerText = '';
    body = text.slice(1);
  } else if (blank >= 0) {
    headerText = text.slice(0, blank);
    body = text.slice(blank + 2);
  } else if (/^[!-9;-~]+:/.test(text)) {
    headerText = text;
    body = '';
  } else {
    headerText = '';
    body = text;
  }
  const headers = new Map<string, string>();
  for (const line of headerText.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const m = /^([!-9;-~]+):[ \t]*(.*)$/.exec(line);
    if (m === null) continue; // e.g. the mbox "From sender date" line
    const name = (m[1] as string).toLowerCase();
    if (!headers.has(name)) headers.set(name, (m[2] as string).trim());
  }
  return { headers, body };
}

function parseContentType(value: string | undefined): ContentType {
  const params = new Map<string, string>();
  if (value === undefined) return { type: '', params };
  const type = (/^\s*([^;\s]+)/.exec(value)?.[1] ?? '').toLowerCase();
  for (const m of value.matchAll(/;\s*([\w.-]+)\s*=\s*(?:"([^"]*)"|([^;\s]*))/g)) {
    params.set((m[1] as string).toLowerCase(), m[2] ?? m[3] ?? '');
  }
  return { type, params };
}

/** The parts between `--boundary` lines (preamble and epilogue dropped); null if there are none. */
function splitMultipart(body: string, boundary: string): string[] | null {
  const open = `--${boundary}`;
  const close = `${open}--`;
  const parts: string[] = [];
  let current: string[] | null = null;
  for (const line of body.split('\n')) {
    const t = line.trimEnd();
    if (t === open || t === close) {
      if (current !== null) parts.push(current.join('\n'));
      if (t === close) return parts;
      current = [];
    } else if (current !== null) {
      current.push(line);
    }
  }
  if (current !== null) parts.push(current.join('\n'));
  return parts.length > 0 ? parts : null;
}

function decodeBody(part: Part, charset: string): string {
  const cte = (part.headers.get('content-transfer-encoding') ?? '').trim().toLowerCase();
  if (cte === 'quoted-printable') return decodeQuotedPrintable(part.body, charset);
  if (cte === 'base64') {
    const bytes = decodeBase64(part.body);
    return bytes === null ? '' : decodeBytes(bytes, charset);
  }
  return part.body;
}

/** Walks the MIME tree collecting decoded text/plain and text/html bodies. */
function collect(part: Part, depth: number, out: { plain: string[]; html: string[] }): void {
  const ct = parseContentType(part.headers.get('content-type'));
  const boundary = ct.params.get('boundary');
  if (ct.type.startsWith('multipart/') && boundary !== undefined && boundary !== '' && depth < MAX_DEPTH) {
    const parts = splitMultipart(part.body, boundary);
    if (parts !== null) {
      for (const p of parts) collect(splitPart(p), depth + 1, out);
      return;
    }
  }
  if (ct.type === 'message/rfc822' && depth < MAX_DEPTH) {
    collect(splitPart(part.body), depth + 1, out);
    return;
  }
  const charset = ct.params.get('charset') ?? '';
  if (ct.type === 'text/html') {
    out.html.push(decodeBody(part, charset));
  } else if (ct.type === 'text/plain' || ct.type === '' || ct.type === 'text') {
    const text = decodeBody(part, charset);
    (looksLikeHtml(text) ? out.html : out.plain).push(text);
  }
}

/** Subject and readable body of a raw e-mail (headers, MIME structure and encodings removed). */
export function parseEmail(raw: string): ParsedEmail {
  const top = splitPart(raw);
  const out = { plain: [] as string[], html: [] as string[] };
  collect(top, 0, out);
  const body = out.plain.length > 0 ? out.plain.join('\n') : out.html.map(htmlToText).join('\n');
  // U+FFFD marks bytes that were already undecodable before we saw the text: nothing readable is left.
  return {
    subject: collapseWhitespace(decodeEncodedWords(top.headers.get('subject') ?? '').replace(/\ufffd/g, '')),
    body: collapseWhitespace(body.replace(/\ufffd/g, '')),
  };
}

/** `subject + " " + body`, whitespace collapsed, cut to `maxChars` UTF-16 units (never inside a pair). */
export function emailToText(raw: string, maxChars = Infinity): string {
  const { subject, body } = parseEmail(raw);
  const text = collapseWhitespace(`${subject} ${body}`);
  if (text.length <= maxChars) return text;
  const cut = text.slice(0, maxChars);
  const last = cut.charCodeAt(cut.length - 1);
  return (last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut).trimEnd();
}
