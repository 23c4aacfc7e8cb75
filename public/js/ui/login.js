// Sign in or register, in the terminal dialogue's steps: the name first; then "Password" for a known name or "This is a
// new user. Enter a password:" for a new one; the server's own texts for every refusal.

import { byId, setText } from './dom.js';
import { texts } from '../texts.js';

function waitWords(seconds) {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.round(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

export function setupLogin(chat) {
  const userForm = byId('user-form');
  const passwordForm = byId('password-form');
  const username = byId('username');
  const password = byId('password');
  const label = byId('password-label');
  const who = byId('password-user');
  const submit = byId('password-submit');
  const notice = byId('login-notice');
  let user = '';
  let known = true;

  function say(text, tone = 'error') {
    notice.dataset.tone = tone;
    setText(notice, text);
  }

  // While the server answers, the form takes no second submit; the boxes stay focusable (read-only, not
  // disabled), so a keyboard user's focus stays where it was.
  function busy(form, isBusy) {
    form.setAttribute('aria-busy', String(isBusy));
    form.dataset.busy = String(isBusy);
    for (const control of form.querySelectorAll('button')) control.disabled = isBusy;
    for (const control of form.querySelectorAll('input')) control.readOnly = isBusy || control.id === 'password-username';
  }

  function askName() {
    passwordForm.hidden = true;
    userForm.hidden = false;
    password.value = '';
    username.value = user;
    username.focus();
    username.select();
  }

  function askPassword(name, exists) {
    user = name;
    known = exists;
    who.textContent = name;
    byId('password-username').value = name; // for password managers
    label.textContent = exists ? 'Password' : texts.newUserPrompt;
    password.autocomplete = exists ? 'current-password' : 'new-password';
    submit.textContent = exists ? 'Sign in' : 'Create account';
    userForm.hidden = true;
    passwordForm.hidden = false;
    password.value = '';
    password.focus();
  }

  userForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (userForm.dataset.busy === 'true') return;
    const name = username.value.trim();
    if (!name) {
      say('Enter a username.');
      username.focus();
      return;
    }
    busy(userForm, true);
    let exists;
    try {
      exists = await chat.lookup(name);
    } catch (err) {
      say(err.message);
      return;
    } finally {
      busy(userForm, false);
    }
    setText(notice, '');
    askPassword(name, exists);
  });

  passwordForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (passwordForm.dataset.busy === 'true') return;
    if (!password.value) {
      say(known ? 'Enter your password.' : 'Choose a password.');
      password.focus();
      return;
    }
    setText(notice, ''); // a repeated refusal is announced again
    busy(passwordForm, true);
    const error = known ? await chat.login(user, password.value) : await chat.register(user, password.value);
    busy(passwordForm, false);
    password.value = '';
    if (!error) {
      setText(notice, '');
      return; // The chat's `signedin` event switches the view.
    }
    switch (error.code) {
      case 'bad_password':
        // "Invalid Password. Please try again", or the lockout text when this failure locked the account.
        say(error.message);
        if (error.attemptsLeft === 0) askName();
        else password.focus();
        break;
      case 'locked':         // "Your account is blocked due to multiple login failures. Please try again later"
        say(error.retryAfter > 0 ? `${error.message} (in about ${waitWords(error.retryAfter)}).` : error.message);
        askName();
        break;
      case 'already_online': // "<user> is already logged in": the dialogue asks for a username again
      case 'invalid_username':
        say(error.message || texts.alreadyLoggedIn(user));
        askName();
        break;
      case 'no_such_user':   // Someone deleted or never had it: it is a new name after all.
        askPassword(user, false);
        say(texts.newUserPrompt, 'info');
        break;
      case 'user_exists':    // Someone took the name a moment ago.
        askPassword(user, true);
        say(`${user} already exists. Enter its password, or use another name.`);
        break;
      default:
        say(error.message || 'That did not work. Try again.');
        password.focus();
        break;
    }
  });

  byId('other-user').addEventListener('click', () => {
    setText(notice, '');
    askName();
  });

  return {
    /** Shows the sign-in form again, with a notice (timeout, logout, session over). */
    reset(message, tone) {
      user = '';
      if (message) say(message, tone);
      else setText(notice, '');
      askName();
    },
    focus() {
      (passwordForm.hidden ? username : password).focus();
    },
  };
}
