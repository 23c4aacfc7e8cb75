// Entry point: builds the connection, the state and the chat controller, and wires the views to them.

import { Chat } from './chat.js';
import { Connection } from './connection.js';
import { PrivateChats } from './p2p/private.js';
import { ChatState } from './state.js';
import { setupComposer } from './ui/composer.js';
import { setupConversation } from './ui/conversation.js';
import { byId } from './ui/dom.js';
import { setupLayout } from './ui/layout.js';
import { setupLogin } from './ui/login.js';
import { setupPeople } from './ui/people.js';
import { setupPrivate } from './ui/private.js';
import { setupRoomPanel } from './ui/room-panel.js';
import { setupRooms } from './ui/rooms.js';
import { setupStatus } from './ui/status.js';

const connection = new Connection();
const state = new ChatState();
const chat = new Chat(connection, state);
const privates = new PrivateChats(chat);
chat.privates = privates;

const layout = setupLayout(state);
const login = setupLogin(chat);
const people = setupPeople(chat, layout);
const roomList = setupRooms(chat, layout);
const roomPanel = setupRoomPanel(chat);
const conversation = setupConversation(chat);
const composer = setupComposer(chat);
const privatePanel = setupPrivate(chat, privates, layout);
layout.useComposer(composer);
setupStatus(connection, chat);

state.addEventListener('change', () => {
  if (!chat.signedIn) return;
  people.render();
  roomList.render();
  conversation.render();
  roomPanel.render();
  privatePanel.render();
  composer.render();
  layout.renderTitle();
});

let restoring = false;
chat.addEventListener('signedin', () => {
  layout.signedIn(chat.session.user, { restored: restoring });
});
chat.addEventListener('signedout', (e) => {
  people.clear();
  roomList.clear();
  conversation.clear();
  roomPanel.clear();
  privatePanel.clear();
  layout.signedOut();
  login.reset(e.detail.message, e.detail.tone);
});

byId('logout').addEventListener('click', () => chat.logout());

restoring = true;
const resumed = chat.start();
restoring = false;
if (!resumed) {
  layout.signedOut();
  login.reset();
}
document.body.dataset.ready = 'true';
