// Escaping for the HTML report and the JUnit XML: the five markup characters,
// and the characters XML 1.0 cannot carry at all (control characters other
// than tab, newline and carriage return; lone surrogates; U+FFFE/U+FFFF),
// which process output (nc, user programs) may well contain.

// XML 1.0 §2.2 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** Escape text for an XML/HTML element body or a double-quoted attribute; invalid characters become U+FFFD. */
export function escapeXml(text: string): string {
  return text
    .replace(INVALID_XML, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
}

/** JSON for a <script type="application/json"> block: no "</script" or "<!--" can end it early. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')
}

/** Text for a CDATA section: "]]>" split so it cannot close the section early. */
export function escapeCdata(text: string): string {
  return text.replace(INVALID_XML, '\uFFFD').replace(/]]>/g, ']]]]><![CDATA[>')
}
