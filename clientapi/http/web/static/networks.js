// Adding a network: an IRC network or an XMPP account, with the settings
// the API accepts for each kind, errors shown at the field the API names.
// The other kind's fieldset is disabled, so its inputs are neither sent
// nor validated.

import { api, ApiError } from './api.js';
import { loadList } from './list.js';
import { $, show } from './state.js';

export function openAddNetwork() {
  show('view-add');
  document.title = 'Add network – Switchboard';
  clearErrors();
  $('network-form').elements.name.focus();
}

// activeSettings is the fieldset of the kind chosen.
function activeSettings() {
  return $('network-form').querySelector('fieldset.settings:not([disabled])');
}

function chooseKind() {
  const kind = $('network-form').elements.kind.value;
  for (const fs of $('network-form').querySelectorAll('fieldset.settings')) {
    const on = fs.dataset.kind === kind;
    fs.disabled = !on;
    fs.hidden = !on;
  }
  clearErrors();
}

function clearErrors() {
  $('network-error').textContent = '';
  for (const i of $('network-form').querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
}

async function submit(e) {
  e.preventDefault();
  clearErrors();
  const form = $('network-form');
  const fields = activeSettings();
  const settings = {};
  for (const input of fields.querySelectorAll('[name^="settings."]')) {
    const v = input.value.trim();
    if (v) settings[input.name.slice('settings.'.length)] = v;
  }
  const body = { name: form.elements.name.value.trim(), kind: fields.dataset.kind, settings };
  try {
    await api('POST', '/networks', body);
  } catch (err) {
    $('network-error').textContent = err.message;
    if (err instanceof ApiError && err.field) {
      const input = err.field === 'name' ? form.elements.name : fields.querySelector(`[name="${CSS.escape(err.field)}"]`);
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        if (input.closest('details')) input.closest('details').open = true;
        input.focus();
      }
    }
    return;
  }
  form.reset();
  chooseKind();
  await loadList();
  location.hash = '#/';
}

export function initNetworks() {
  $('network-form').addEventListener('submit', submit);
  for (const radio of $('network-form').querySelectorAll('input[name=kind]')) radio.addEventListener('change', chooseKind);
}
