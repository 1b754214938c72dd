// The module "sandbox_utils" (see _runtimes/javascript.py); names as in sandbox_utils.js.
const utils = __wbSandboxUtils();
export default utils;
export const {
  SandboxPathError,
  ls, cat, write, append, exists, stat, mkdir, rm, cp, mv, find, walk, tree, head, tail, wc, grep,
  resolvePath,
  readJSON, writeJSON, parseCSV, toCSV, readCSV, writeCSV,
  groupBy, countBy, sortBy, unique, chunk,
  capitalize, titleCase, camelCase, snakeCase, kebabCase, slugify, truncate, dedent, wrap, escapeHtml, formatTable,
} = utils;
