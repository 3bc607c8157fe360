// `${ENV}` interpolation in config file values: `${NAME}`, `${NAME:-default}`, `${NAME-default}`, and `$${` for a
// literal `${`; and the retyping of a plain YAML scalar that was written as a reference.

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface Interpolated {
  value: string;
  /** Problems, never containing a variable's value. */
  problems: string[];
  used: boolean;
}

/**
 * Replaces `${NAME}`, `${NAME:-default}` (default when unset or empty) and `${NAME-default}` (default when unset);
 * `$${` is a literal `${`. A missing variable without a default is a problem naming the variable.
 */
export function interpolate(text: string, env: NodeJS.ProcessEnv): Interpolated {
  const problems: string[] = [];
  let out = '';
  let used = false;
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf('$', i);
    if (at < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, at);
    if (text.startsWith('$${', at)) {
      out += '${';
      i = at + 3;
      used = true;
      continue;
    }
    if (!text.startsWith('${', at)) {
      out += '$';
      i = at + 1;
      continue;
    }
    used = true;
    const end = text.indexOf('}', at + 2);
    if (end < 0) {
      problems.push('"${" without a closing "}" (write "$${" for a literal "${")');
      out += text.slice(at);
      break;
    }
    const expr = text.slice(at + 2, end);
    const m = /^([^:-]*)(?:(:-|-)([\s\S]*))?$/.exec(expr);
    const name = m?.[1] ?? expr;
    if (!m || !VAR_NAME.test(name)) {
      problems.push(`"\${${expr.length > 40 ? `${expr.slice(0, 40)}…` : expr}}" is not a variable reference: use \${NAME} or \${NAME:-default}`);
      i = end + 1;
      continue;
    }
    const value = env[name];
    const op = m[2];
    if (value === undefined || (op === ':-' && value === '')) {
      if (op) out += m[3] ?? '';
      else problems.push(`environment variable ${name} is not set (set it, or give a default: \${${name}:-default})`);
    } else out += value;
    i = end + 1;
  }
  return { value: out, problems, used };
}

/** A plain (unquoted) scalar written as `${X}` takes the type its value has in YAML: `${LIMIT}` with LIMIT=20 is 20. */
export function retype(text: string): unknown {
  const t = text.trim();
  if (/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (t === 'true' || t === 'false') return t === 'true';
  return text;
}
