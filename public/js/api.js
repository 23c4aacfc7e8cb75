// The REST API (docs/PROTOCOL.md §10), authenticated with the bearer token from `welcome`. The token goes in a
// header, never in a URL.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  #token;

  constructor(getToken) {
    this.#token = getToken;
  }

  async #call(method, path, query = {}) {
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    let response;
    try {
      response = await fetch(url, {
        method,
        headers: { Authorization: `Bearer ${this.#token()}`, Accept: 'application/json' },
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      throw new ApiError(0, 'network', 'The server could not be reached.');
    }
    if (response.status === 204) return null;
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const error = body && typeof body === 'object' ? body.error : null;
      throw new ApiError(response.status, error?.code ?? `http_${response.status}`,
        error?.message ?? `The server answered ${response.status}.`);
    }
    return body;
  }

  /** Direct messages with `user`, newest first: { messages: [{id, from, to, text, at}], next }. */
  history(user, before, limit) {
    return this.#call('GET', '/api/history', { with: user, before, limit });
  }

  /** The users the signed-in user has blocked: { users: [...] }. */
  blocks() {
    return this.#call('GET', '/api/blocks');
  }
}
