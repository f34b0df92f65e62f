// Adding a network: the IRC settings the API accepts, errors shown at the
// field the API names.

import { api, ApiError } from './api.js';
import { loadList } from './list.js';
import { $, show } from './state.js';

export function openAddNetwork() {
  show('view-add');
  document.title = 'Add network – Switchboard';
  clearErrors();
  $('network-form').elements.name.focus();
}

function clearErrors() {
  $('network-error').textContent = '';
  for (const i of $('network-form').querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
}

async function submit(e) {
  e.preventDefault();
  clearErrors();
  const form = $('network-form');
  const settings = {};
  for (const input of form.querySelectorAll('input[name^="settings."]')) {
    const v = input.value.trim();
    if (v) settings[input.name.slice('settings.'.length)] = v;
  }
  const body = { name: form.elements.name.value.trim(), kind: 'irc', settings };
  try {
    await api('POST', '/networks', body);
  } catch (err) {
    $('network-error').textContent = err.message;
    if (err instanceof ApiError && err.field) {
      const input = form.querySelector(`[name="${CSS.escape(err.field)}"]`);
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        if (input.closest('details')) input.closest('details').open = true;
        input.focus();
      }
    }
    return;
  }
  form.reset();
  await loadList();
  location.hash = '#/';
}

export function initNetworks() {
  $('network-form').addEventListener('submit', submit);
}
