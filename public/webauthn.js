/* global document, navigator, window, atob, btoa */
// Passkeys and security keys on Poort's pages. The pages allow no inline script, so this file drives every
// WebAuthn ceremony: a form marked data-webauthn="authenticate" or "register" carries the options as JSON in
// data-options (or fetches them from data-options-url), and posts the browser's answer in its `credential` field.

const fromBase64url = (text) =>
  Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)).buffer;

const toBase64url = (buffer) =>
  btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

const withIds = (list) => (list ?? []).map((c) => ({ ...c, id: fromBase64url(c.id) }));

// Browsers before WebAuthn Level 3 lack the JSON helpers: convert by hand there.
function requestOptions(json) {
  const P = window.PublicKeyCredential;
  if (typeof P.parseRequestOptionsFromJSON === 'function') return P.parseRequestOptionsFromJSON(json);
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    allowCredentials: withIds(json.allowCredentials),
  };
}

function creationOptions(json) {
  const P = window.PublicKeyCredential;
  if (typeof P.parseCreationOptionsFromJSON === 'function') return P.parseCreationOptionsFromJSON(json);
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: withIds(json.excludeCredentials),
  };
}

function credentialJson(credential) {
  if (typeof credential.toJSON === 'function') return credential.toJSON();
  const r = credential.response;
  const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toBase64url(r.attestationObject);
    response.transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
  } else {
    response.authenticatorData = toBase64url(r.authenticatorData);
    response.signature = toBase64url(r.signature);
    if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response,
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

// The alert is created when needed: a role="alert" element added to the page is announced by screen readers.
function showError(form, message) {
  let box = form.querySelector('[data-webauthn-error]');
  if (!box) {
    box = document.createElement('div');
    box.className = 'alert';
    box.setAttribute('role', 'alert');
    box.dataset.webauthnError = '';
    const button = form.querySelector('button');
    if (button) button.before(box);
    else form.append(box);
  }
  const p = document.createElement('p');
  p.textContent = message;
  box.replaceChildren(p);
}

function messageFor(form, error) {
  const name = error && typeof error === 'object' ? error.name : '';
  if (name === 'NotAllowedError' || name === 'AbortError') return form.dataset.errorCancelled;
  if (name === 'InvalidStateError' && form.dataset.errorExists) return form.dataset.errorExists;
  return form.dataset.errorFailed;
}

async function fetchOptions(form) {
  const csrf = form.elements.namedItem('csrf');
  const res = await fetch(form.dataset.optionsUrl, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { accept: 'application/json' },
    body: new URLSearchParams({ csrf: csrf ? csrf.value : '' }),
  });
  if (!res.ok) throw new Error(`options: ${res.status}`);
  return { json: await res.json(), at: Date.now() };
}

const stale = (options) => Date.now() - options.at > (options.json.timeout ?? 300000) - 30000;

function setUp(form) {
  const register = form.dataset.webauthn === 'register';
  const fromServer = Boolean(form.dataset.optionsUrl);
  const button = form.querySelector('button[type="submit"], button:not([type])');
  let options = fromServer ? undefined : { json: JSON.parse(form.dataset.options), at: Date.now() };
  let busy = false;

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    if (button) button.setAttribute('aria-busy', 'true');
    try {
      // The server keeps a challenge as long as the ceremony's timeout: ask for a fresh one when the page sat open.
      if (fromServer && (!options || stale(options))) options = await fetchOptions(form);
      const credential = register
        ? await navigator.credentials.create({ publicKey: creationOptions(options.json) })
        : await navigator.credentials.get({ publicKey: requestOptions(options.json) });
      if (!credential) throw new Error('no credential');
      form.elements.namedItem('credential').value = JSON.stringify(credentialJson(credential));
      form.submit();
    } catch (error) {
      showError(form, messageFor(form, error));
      busy = false;
      if (button) button.removeAttribute('aria-busy');
    }
  });

  if (fromServer) {
    // Offered only where the server offers it: the options answer says so, and brings the first challenge.
    fetchOptions(form).then(
      (fetched) => {
        options = fetched;
        const hidden = form.closest('[hidden]');
        if (hidden) hidden.hidden = false;
      },
      () => {},
    );
  }
}

const forms = document.querySelectorAll('form[data-webauthn]');
const supported = typeof window.PublicKeyCredential === 'function' && Boolean(navigator.credentials);
for (const form of forms) {
  if (supported) setUp(form);
  else if (!form.closest('[hidden]')) {
    showError(form, form.dataset.errorUnsupported ?? form.dataset.errorFailed);
    const button = form.querySelector('button');
    if (button) button.disabled = true;
  }
}
