// Checks that a rendered webhook body is valid JSON and, when it is not, says where (line, column, nearby text)
// and why in words a template author can act on.

class JsonAt {
  constructor(
    readonly index: number,
    readonly what: string,
  ) {}
}

/** Finds the first syntax error in a JSON text (JSON.parse's messages do not always give a position). */
function locateJsonError(s: string): JsonAt | null {
  let i = 0;
  const ws = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  };
  const fail = (what: string): never => {
    // At the end of the output, the hint in parentheses does not apply: something is missing.
    throw new JsonAt(i, i >= s.length ? `the body ends too early: ${what.replace(/ \(.*\)$/, '')}` : what);
  };
  const literal = (word: string) => {
    if (s.startsWith(word, i)) i += word.length;
    else fail('unexpected characters (a string value without quotes? insert values with | json)');
  };
  const str = () => {
    i++; // opening quote
    for (;;) {
      if (i >= s.length) fail('a string is not closed');
      const c = s.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail('a line break or control character inside a string (insert values with | json)');
      if (c === 0x5c) {
        const e = s[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) fail('a bad \\u escape in a string');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail('a bad escape in a string (insert values with | json)');
      } else i++;
    }
  };
  const num = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(s.slice(i, i + 400));
    if (!m) fail('a malformed number');
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = s[i];
    if (c === '{') {
      i++;
      ws();
      if (s[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (s[i] !== '"') fail('expected a property name in double quotes');
        str();
        ws();
        if (s[i] !== ':') fail("expected ':' after the property name");
        i++;
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === '}') {
          i++;
          return;
        }
        fail("expected ',' or '}' after a property's value (an unquoted value, or a missing comma?)");
      }
    } else if (c === '[') {
      i++;
      ws();
      if (s[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === ']') {
          i++;
          return;
        }
        fail("expected ',' or ']' after an array item");
      }
    } else if (c === '"') str();
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) num();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else if (c === undefined) fail('expected a value');
    else fail('expected a value (a string value without quotes? insert values with | json)');
  };
  try {
    value();
    ws();
    if (i < s.length) fail('unexpected text after the JSON value');
    return null;
  } catch (e) {
    if (e instanceof JsonAt) return e;
    return null; // e.g. nesting too deep for the stack: no position
  }
}

/** Null when `out` is valid JSON, else where and why it is not. */
export function jsonProblem(out: string): string | null {
  try {
    JSON.parse(out);
    return null;
  } catch (e) {
    const at = locateJsonError(out);
    if (!at) return `the rendered body is not valid JSON (${e instanceof Error ? e.message : String(e)})`;
    const before = out.slice(0, at.index);
    const line = before.split('\n').length;
    const column = at.index - before.lastIndexOf('\n');
    const near = out
      .slice(Math.max(0, at.index - 30), at.index + 30)
      .replace(/\r?\n/g, '⏎')
      .trim();
    return `the rendered body is not valid JSON: ${at.what} at line ${line}, column ${column} of the output, near \`${near}\``;
  }
}
