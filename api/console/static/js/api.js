// The console's only way to the platform: POST /graphql with the signed-in token.

const TOKEN_KEY = 'linkage.token';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token.trim());
    session.viewer = null;
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    session.viewer = null;
  },
  viewer: null, // the `me` answer for the current token
};

/** A refusal or failure, with the platform's code, rule and message. */
export class ApiError extends Error {
  constructor(code, rule, message) {
    super(message);
    this.code = code;
    this.rule = rule;
  }
}

// Requests in flight: the page shows a loading bar while any is (data-busy on <html>).
let inFlight = 0;
function busy(delta) {
  inFlight += delta;
  if (inFlight > 0) document.documentElement.dataset.busy = String(inFlight);
  else delete document.documentElement.dataset.busy;
  const bar = document.getElementById('busy');
  if (bar) bar.hidden = inFlight === 0;
}

export async function gql(query, variables = {}) {
  busy(1);
  try {
    return await send(query, variables);
  } finally {
    busy(-1);
  }
}

async function send(query, variables) {
  const headers = { 'Content-Type': 'application/json' };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
    });
  } catch (err) {
    throw new ApiError('UNAVAILABLE', 'NETWORK', `无法连接服务器（${err.message}）`);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError('UNAVAILABLE', `HTTP_${response.status}`, `服务器返回 HTTP ${response.status}`);
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const ext = first.extensions || {};
    throw new ApiError(ext.code || 'ERROR', ext.rule || '', first.message);
  }
  return body.data;
}

export const ME = `query Me {
  me { userId roles unit { code name level ancestors { code name level } } }
}`;

/** The viewer of the current token (cached per sign-in); null without a token. */
export async function viewer() {
  if (!session.token) return null;
  if (!session.viewer) session.viewer = (await gql(ME)).me;
  return session.viewer;
}

/** The error in plain words (Chinese), and the platform's own message beside it. */
export function explain(error) {
  const plain = PLAIN[error.rule] || PLAIN[error.code] || '操作未成功。';
  return { plain, detail: error.message, code: error.code, rule: error.rule };
}

// Page-level refusals (a form's refusal goes through refusals.js, which names the units).
const PLAIN = {
  TOKEN_INVALID: '令牌无效或已过期，请重新登录。',
  TOKEN_EXPIRED: '令牌已过期，请重新登录。',
  TOKEN_MISSING: '请先登录。',
  TOPIC_NOT_FOUND: '找不到该议题，或您无权查看。',
  UNIT_NOT_FOUND: '找不到该单位，或不在您的管辖范围内。',
  READ_MODEL_BEHIND: '数据仍在更新，请稍后刷新。',
  UNAUTHENTICATED: '令牌无效或已过期，请重新登录。',
  FORBIDDEN: '您无权进行此操作。',
  NOT_FOUND: '找不到，或您无权查看。',
  RULE_VIOLATION: '操作不符合办理规则。',
  CONFLICT: '议题刚被他人更新，请刷新后重试。',
  BAD_INPUT: '填写的内容有误。',
  UNAVAILABLE: '服务暂时不可用，请稍后重试。',
};
