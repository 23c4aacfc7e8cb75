// Which ICE (STUN/TURN) servers the page gives WebRTC. On one host none are needed: host candidates connect.
// Set them in index.html: <meta name="parley-ice-servers" content='[{"urls": "stun:stun.example.org:3478"}]'>

/** The RTCIceServer list from the page's meta tag; an empty list when it is missing or malformed. */
export function iceServers(doc = document) {
  const meta = doc.querySelector('meta[name="parley-ice-servers"]');
  if (!meta) return [];
  try {
    const list = JSON.parse(meta.content || '[]');
    if (!Array.isArray(list)) return [];
    return list.filter((server) => server && typeof server === 'object'
      && (typeof server.urls === 'string' || (Array.isArray(server.urls) && server.urls.every((u) => typeof u === 'string'))));
  } catch {
    return [];
  }
}
