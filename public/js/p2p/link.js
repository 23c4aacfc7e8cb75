// One direct link to one peer: an RTCPeerConnection with one data channel. The asker creates the channel
// and the offer; descriptions and ICE candidates travel through the server as `signal` data. The channel
// carries the P2P messages of docs/PROTOCOL.md §9 as JSON lines: p2p_hello (the asker's token), private, stopprivate, logout.

/** How long the link may take to open before the peer counts as unreachable. */
const OPEN_TIMEOUT_MS = 20000;
const MAX_LINE = 64 * 1024;

/** Only the fields WebRTC needs, from signal data that came over the network. */
function cleanSignal(data) {
  if (!data || typeof data !== 'object') return null;
  const { description, candidate } = data;
  if (description && typeof description === 'object'
      && (description.type === 'offer' || description.type === 'answer') && typeof description.sdp === 'string') {
    return { description: { type: description.type, sdp: description.sdp } };
  }
  if (candidate && typeof candidate === 'object' && typeof candidate.candidate === 'string') {
    return {
      candidate: {
        candidate: candidate.candidate,
        sdpMid: typeof candidate.sdpMid === 'string' ? candidate.sdpMid : null,
        sdpMLineIndex: Number.isInteger(candidate.sdpMLineIndex) ? candidate.sdpMLineIndex : null,
      },
    };
  }
  return null;
}

/**
 * Events: `open`, `message` (detail: a parsed P2P message object), `close` (the link is gone, for whatever
 * reason; fired once, also after close()).
 */
export class PeerLink extends EventTarget {
  #pc;
  #channel = null;
  #sendSignal;
  #pendingCandidates = [];
  #remoteSet = false;
  #closed = false;
  #timer;
  #buffer = '';

  /** sendSignal(data) hands `data` to the server for the peer; initiator: this side asked. */
  constructor({ iceServers, initiator, sendSignal }) {
    super();
    this.initiator = initiator;
    this.#sendSignal = sendSignal;
    this.#pc = new RTCPeerConnection({ iceServers });
    this.#pc.addEventListener('icecandidate', (e) => {
      if (e.candidate) this.#signal({ candidate: e.candidate.toJSON() });
    });
    this.#pc.addEventListener('connectionstatechange', () => {
      if (this.#pc.connectionState === 'failed' || this.#pc.connectionState === 'closed') this.close();
    });
    this.#pc.addEventListener('datachannel', (e) => {
      if (!this.initiator && !this.#channel) this.#useChannel(e.channel);
    });
    this.#timer = setTimeout(() => { if (!this.isOpen) this.close(); }, OPEN_TIMEOUT_MS);
  }

  get isOpen() { return !this.#closed && this.#channel?.readyState === 'open'; }

  /** The asker's side: the channel and the offer. */
  async start() {
    this.#useChannel(this.#pc.createDataChannel('parley', { ordered: true }));
    try {
      await this.#pc.setLocalDescription(await this.#pc.createOffer());
      this.#signal({ description: this.#pc.localDescription.toJSON() });
    } catch {
      this.close();
    }
  }

  /** Signal data relayed from the peer. */
  async signal(raw) {
    const data = cleanSignal(raw);
    if (!data || this.#closed) return;
    try {
      if (data.description) {
        const { type } = data.description;
        if (type === 'offer' ? this.initiator : !this.initiator) return; // not the role this side expects
        await this.#pc.setRemoteDescription(data.description);
        this.#remoteSet = true;
        for (const candidate of this.#pendingCandidates.splice(0)) await this.#pc.addIceCandidate(candidate);
        if (type === 'offer') {
          await this.#pc.setLocalDescription(await this.#pc.createAnswer());
          this.#signal({ description: this.#pc.localDescription.toJSON() });
        }
      } else if (this.#remoteSet) {
        await this.#pc.addIceCandidate(data.candidate);
      } else {
        this.#pendingCandidates.push(data.candidate);
      }
    } catch {
      // A description or candidate that does not fit: the link cannot be made.
      this.close();
    }
  }

  /** Sends one P2P message. Returns false if the link is not open. */
  send(message) {
    if (!this.isOpen) return false;
    try {
      this.#channel.send(`${JSON.stringify(message)}\n`);
      return true;
    } catch {
      this.close();
      return false;
    }
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    try { this.#channel?.close(); } catch { /* already closed */ }
    try { this.#pc.close(); } catch { /* already closed */ }
    this.dispatchEvent(new Event('close'));
  }

  #signal(data) {
    if (!this.#closed) this.#sendSignal(data);
  }

  #useChannel(channel) {
    this.#channel = channel;
    channel.addEventListener('open', () => {
      if (this.#closed) return;
      clearTimeout(this.#timer);
      this.dispatchEvent(new Event('open'));
    });
    channel.addEventListener('close', () => this.close());
    channel.addEventListener('error', () => this.close());
    channel.addEventListener('message', (e) => {
      if (typeof e.data !== 'string') return;
      this.#buffer += e.data;
      if (this.#buffer.length > MAX_LINE && !this.#buffer.includes('\n')) {
        this.close(); // a line too long: bad input ends only this link
        return;
      }
      let end;
      while (!this.#closed && (end = this.#buffer.indexOf('\n')) >= 0) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 1);
        let message;
        try {
          message = JSON.parse(line);
        } catch {
          continue;
        }
        if (message && typeof message === 'object' && !Array.isArray(message) && typeof message.type === 'string') {
          this.dispatchEvent(new CustomEvent('message', { detail: message }));
        }
      }
    });
  }
}
