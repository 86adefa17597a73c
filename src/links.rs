//! Signed, expiring links: the guest resume link sent in emails.
//!
//! A link token is `nr_<guest_id>.<expires_unix>.<nonce>.<signature>`, the signature being
//! HMAC-SHA256 under the server's secret key. The random nonce makes every link its own,
//! so two links made in the same second are two links (a link works once). Links made
//! before the nonce (`nr_<guest_id>.<expires_unix>.<signature>`) still verify. The key comes from `secret_key` (set it to the
//! same value on every node), or is generated once into `<data_dir>/secret.key`.

use crate::config::Settings;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chat_core::GuestId;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "nr_";

/// The server's signing key.
#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(<hidden>)")
    }
}

impl LinkKey {
    /// From `secret_key`, else from (or into) `<data_dir>/secret.key`.
    pub fn load(settings: &Settings) -> std::io::Result<LinkKey> {
        if let Some(k) = settings.secret_key.as_deref().filter(|k| !k.is_empty()) {
            return Ok(LinkKey(k.as_bytes().to_vec()));
        }
        let path = settings.data_dir.join("secret.key");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            let t = existing.trim();
            if t.len() >= 32 {
                return Ok(LinkKey(t.as_bytes().to_vec()));
            }
        }
        std::fs::create_dir_all(&settings.data_dir)?;
        let fresh = chat_core::secret::new_token("");
        write_private(&path, &fresh)?;
        Ok(LinkKey(fresh.into_bytes()))
    }

    /// A key for this process only (when none can be stored).
    pub fn ephemeral() -> LinkKey {
        LinkKey(chat_core::secret::new_token("").into_bytes())
    }

    fn sign(&self, payload: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| {
            // HMAC takes keys of any length; this branch cannot be reached.
            HmacSha256::new_from_slice(b"-").expect("a one-byte key")
        });
        mac.update(payload.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// A token that resumes `guest`'s conversation until `expires`.
    pub fn guest_resume(&self, guest: GuestId, expires: OffsetDateTime) -> String {
        // 22 characters of a fresh token: 132 random bits, and a shorter link.
        let token = chat_core::secret::new_token("");
        let nonce = token.get(..22).unwrap_or(&token);
        let payload = format!("{}.{}.{nonce}", guest.0, expires.unix_timestamp());
        format!("{PREFIX}{payload}.{}", self.sign(&payload))
    }

    /// The guest a resume token names, if its signature holds and it has not expired.
    pub fn verify_guest_resume(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<GuestId, LinkError> {
        let body = token.strip_prefix(PREFIX).ok_or(LinkError::Malformed)?;
        let (payload, sig) = body.rsplit_once('.').ok_or(LinkError::Malformed)?;
        let mut parts = payload.split('.');
        let (Some(guest), Some(exp)) = (parts.next(), parts.next()) else {
            return Err(LinkError::Malformed);
        };
        // The nonce (absent from the oldest links) is only signed, never read.
        if parts.nth(1).is_some() {
            return Err(LinkError::Malformed);
        }
        let guest: i64 = guest.parse().map_err(|_| LinkError::Malformed)?;
        let exp: i64 = exp.parse().map_err(|_| LinkError::Malformed)?;
        // Constant-time comparison through the MAC's own verify.
        let given = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| LinkError::BadSignature)?;
        let mut mac = HmacSha256::new_from_slice(&self.0).map_err(|_| LinkError::BadSignature)?;
        mac.update(payload.as_bytes());
        mac.verify_slice(&given)
            .map_err(|_| LinkError::BadSignature)?;
        if now.unix_timestamp() >= exp {
            return Err(LinkError::Expired);
        }
        Ok(GuestId(guest))
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("not a resume link")]
    Malformed,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_tokens_verify_and_refuse_tampering_and_age() {
        let k = LinkKey(b"0123456789abcdef0123456789abcdef".to_vec());
        let now = OffsetDateTime::now_utc();
        let t = k.guest_resume(GuestId(42), now + time::Duration::hours(1));
        assert_eq!(k.verify_guest_resume(&t, now), Ok(GuestId(42)));
        let forged = t.replacen("nr_42.", "nr_43.", 1);
        assert_eq!(
            k.verify_guest_resume(&forged, now),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            k.verify_guest_resume(&t, now + time::Duration::hours(2)),
            Err(LinkError::Expired)
        );
        let other = LinkKey(b"another key, another server......".to_vec());
        assert_eq!(
            other.verify_guest_resume(&t, now),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            k.verify_guest_resume("ng_abc", now),
            Err(LinkError::Malformed)
        );
    }

    #[test]
    fn two_links_made_at_once_differ_and_old_links_still_verify() {
        let k = LinkKey(b"0123456789abcdef0123456789abcdef".to_vec());
        let now = OffsetDateTime::now_utc();
        let exp = now + time::Duration::hours(1);
        let a = k.guest_resume(GuestId(7), exp);
        let b = k.guest_resume(GuestId(7), exp);
        assert_ne!(a, b, "a link works once, so two links must not be one");
        assert_eq!(k.verify_guest_resume(&b, now), Ok(GuestId(7)));
        // The form before the nonce, as emails already sent carry it.
        let payload = format!("7.{}", exp.unix_timestamp());
        let old = format!("{PREFIX}{payload}.{}", k.sign(&payload));
        assert_eq!(k.verify_guest_resume(&old, now), Ok(GuestId(7)));
        // A nonce cannot be swapped, and extra parts are refused.
        let (head, sig) = a.rsplit_once('.').expect("a signature");
        let (base, _nonce) = head.rsplit_once('.').expect("a nonce");
        assert_eq!(
            k.verify_guest_resume(&format!("{base}.other.{sig}"), now),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            k.verify_guest_resume(&format!("{head}.x.{sig}"), now),
            Err(LinkError::Malformed)
        );
    }
}
