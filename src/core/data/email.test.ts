import { describe, expect, it } from 'vitest';

import {
  decodeBase64,
  decodeBytes,
  decodeEncodedWords,
  decodeHtmlEntities,
  decodeQuotedPrintable,
  emailToText,
  htmlToText,
  parseEmail,
} from './email.ts';

const PLAIN = `From someone@example.com  Tue Aug  6 11:51:02 2002
Return-Path: <someone@example.com>
Received: from localhost (localhost [127.0.0.1])
\tby example.com (Postfix) with ESMTP id 9E1F5441DD
Subject: [ILUG] Meeting
  on Tuesday
Content-Type: text/plain; charset="us-ascii"

Hi all,

The meeting is   on Tuesday.
-- 
Bob
`;

const MULTIPART = [
  'From: "Deals" <deals@example.com>',
  'Subject: =?utf-8?B?Q2Fmw6k=?= =?iso-8859-1?Q?_deals_=E0_gogo?=',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="outer"',
  '',
  'This is a multi-part message in MIME format.',
  '',
  '--outer',
  'Content-Type: multipart/alternative;',
  '\tboundary=inner',
  '',
  '--inner',
  'Content-Type: text/plain; charset=iso-8859-1',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Caf=E9 prices =3D low! This line is soft-=',
  'broken.',
  '--inner',
  'Content-Type: text/html; charset=iso-8859-1',
  '',
  '<html><body><p>Ignored because a plain part exists</p></body></html>',
  '--inner--',
  '',
  '--outer',
  'Content-Type: image/gif; name="x.gif"',
  'Content-Transfer-Encoding: base64',
  '',
  'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7',
  '--outer',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: base64',
  '',
  'U2Vjb25kIHBhcnQ6IG5hw692ZSDinJM=',
  '--outer--',
  'epilogue is dropped',
].join('\r\n');

const HTML_ONLY = `Subject: WIN BIG!!!
Content-Type: text/html
Content-Transfer-Encoding: quoted-printable

<html><head><title>t</title><style>p { color: red }</style></head>
<body><!-- hidden --><p>Click <a href=3D"http://x.com">here</a> to W<b></b>IN&nbsp;&#36;1,000&amp;more</p>
<script>alert(1)</script><table><tr><td>cell1</td><td>cell2</td></tr></table></body></html>
`;

describe('parseEmail', () => {
  it('strips headers, unfolds the subject and collapses whitespace', () => {
    expect(parseEmail(PLAIN)).toEqual({
      subject: '[ILUG] Meeting on Tuesday',
      body: 'Hi all, The meeting is on Tuesday. -- Bob',
    });
  });

  it('keeps text/plain parts of nested multiparts, decoding QP, base64 and RFC 2047 subjects', () => {
    expect(parseEmail(MULTIPART)).toEqual({
      subject: 'Café deals à gogo',
      body: 'Café prices = low! This line is soft-broken. Second part: naïve ✓',
    });
  });

  it('falls back to text/html with tags, comments, script/style and entities removed', () => {
    expect(parseEmail(HTML_ONLY)).toEqual({
      subject: 'WIN BIG!!!',
      body: 'Click here to WIN $1,000&more cell1 cell2',
    });
  });

  it('treats an undeclared HTML body as HTML', () => {
    const raw = 'Subject: hi\n\n<html><body><font size=3>Cheap <b>pills</b></font><br>now</body></html>\n';
    expect(parseEmail(raw).body).toBe('Cheap pills now');
  });

  it('copes with no blank line, no headers and no subject', () => {
    expect(parseEmail('Subject: only headers\nX-Foo: bar')).toEqual({ subject: 'only headers', body: '' });
    expect(parseEmail('just a body line\nand another')).toEqual({
      subject: '',
      body: 'just a body line and another',
    });
    expect(parseEmail('')).toEqual({ subject: '', body: '' });
  });

  it('reads a multipart without a closing boundary, and a multipart without parts as plain text', () => {
    const open = 'Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nhello';
    expect(parseEmail(open).body).toBe('hello');
    const none = 'Content-Type: multipart/mixed; boundary=zzz\n\nno parts here';
    expect(parseEmail(none).body).toBe('');
  });

  it('drops U+FFFD (bytes lost before parsing)', () => {
    expect(parseEmail('Subject: caf\ufffd\n\nna\ufffd\ufffdve')).toEqual({ subject: 'caf', body: 'nave' });
  });

  it('drops an undecodable base64 part', () => {
    const raw = 'Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!! not base64 !!!\n';
    expect(parseEmail(raw).body).toBe('');
  });
});

describe('emailToText', () => {
  it('joins subject and body and truncates without splitting a surrogate pair', () => {
    expect(emailToText(PLAIN)).toBe('[ILUG] Meeting on Tuesday Hi all, The meeting is on Tuesday. -- Bob');
    expect(emailToText(PLAIN, 14)).toBe('[ILUG] Meeting');
    expect(emailToText('Subject: ab😀\n\nx', 3)).toBe('ab');
    expect(emailToText('\n\nbody only')).toBe('body only');
  });
});

describe('decoders', () => {
  it('decodeBase64', () => {
    expect([...(decodeBase64('aGk=') ?? [])]).toEqual([104, 105]);
    expect([...(decodeBase64('aG k\n') ?? [])]).toEqual([104, 105]);
    expect(decodeBase64('a')).toBeNull();
    expect(decodeBase64('a*==')).toBeNull();
  });

  it('decodeBytes: UTF-8, Windows-1252 for Latin-1 and invalid UTF-8, ASCII only for other charsets', () => {
    expect(decodeBytes([0x63, 0x61, 0x66, 0xc3, 0xa9], 'UTF-8')).toBe('café');
    expect(decodeBytes([0x63, 0xe9, 0x20, 0x93, 0x94], 'utf-8')).toBe('cé “”');
    expect(decodeBytes([0xe9, 0x80], 'iso-8859-1')).toBe('é€');
    expect(decodeBytes([0x68, 0x69, 0xc4, 0xe3], 'gb2312')).toBe('hi');
    expect(decodeBytes([0xf0, 0x9f, 0x98, 0x80], 'utf-8')).toBe('😀');
    expect(decodeBytes([0xed, 0xa0, 0x80], 'utf-8')).toBe('í\u00a0€');
  });

  it('decodeQuotedPrintable decodes escape runs in the charset', () => {
    expect(decodeQuotedPrintable('na=C3=AFve =3D soft=\r\nbreak', 'utf-8')).toBe('naïve = softbreak');
    expect(decodeQuotedPrintable('caf=E9 =ZZ', 'iso-8859-1')).toBe('café =ZZ');
  });

  it('decodeEncodedWords', () => {
    expect(decodeEncodedWords('=?UTF-8?Q?Hello_W=C3=B6rld?= and =?utf-8?b?8J+YgA==?=')).toBe(
      'Hello Wörld and 😀',
    );
    expect(decodeEncodedWords('=?utf-8?B?YQ==?=  =?utf-8?B?Yg==?=')).toBe('ab');
    expect(decodeEncodedWords('plain =?bad')).toBe('plain =?bad');
  });

  it('decodeHtmlEntities', () => {
    expect(decodeHtmlEntities('&lt;b&gt; &AMP; &#233;&#xE9; &#150; &bogus; &#0;')).toBe(
      '<b> & éé – &bogus;  ',
    );
  });

  it('htmlToText keeps text between tags, and a bare < that is not a tag', () => {
    expect(htmlToText('<div>a < b</div><p>c</p>')).toBe(' a < b  c ');
  });
});
