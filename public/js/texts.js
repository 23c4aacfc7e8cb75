// The SPEC.md wording the page shows itself. Error replies already carry theirs in `message`.
export const texts = {
  welcome: 'Welcome to the greatest messaging application ever!',
  newUserPrompt: 'This is a new user. Enter a password:',
  passwordPrompt: 'Password:',
  timedOut: 'You have been logged out due to inactivity',
  someRecipientsMissed: 'Your message could not be delivered to some recipients',
  loggedIn: (user) => `${user} logged in`,
  loggedOut: (user) => `${user} logged out`,
  isBlocked: (user) => `${user} is blocked`,
  isUnblocked: (user) => `${user} is unblocked`,
  alreadyLoggedIn: (user) => `${user} is already logged in`,
};
