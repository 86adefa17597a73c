// Sign a Nati Chat sign-in token in Node.js (18+), with nothing but node:crypto.
import { createHmac, randomBytes } from 'node:crypto';

const b64url = (data) => Buffer.from(data).toString('base64url');

/**
 * person: { role: 'user' | 'admin' | 'worker', id, name, email, avatar_url? }
 * kid/secret: one entry of Nati Chat's host_token_keys; issuer/audience: host_token_issuer
 * and host_token_audience.
 */
export function natiChatToken(person, { kid, secret, issuer, audience, ttl = 120 }) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'HS256', typ: 'JWT', kid };
  const claims = {
    iss: issuer,
    aud: audience,
    role: person.role,
    sub: String(person.id),
    name: person.name,
    email: person.email,
    iat: now,
    exp: now + ttl,
    jti: randomBytes(16).toString('hex'),
    ...(person.avatar_url ? { avatar_url: person.avatar_url } : {}),
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
