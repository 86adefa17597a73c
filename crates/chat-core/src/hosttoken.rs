//! Sign-in from the host site: the rule for the token the host's back end signs.
//!
//! The token is a compact JWT (RFC 7519) signed with HS256 and a secret shared with the
//! host. Everything about it is checked here, without IO, in this order:
//! 1. three base64url parts, a JSON header and a JSON object as payload (else `Malformed`);
//! 2. `alg` is exactly `HS256` (never `none`, never another HMAC, never RSA);
//! 3. `kid` names one of the configured keys (several at once while a secret rotates);
//! 4. the HMAC-SHA256 signature, compared in constant time;
//! 5. the claims: `iss` and `aud` are the configured ones, `exp` has not passed, is at most
//!    [`HostTokenRules::max_lifetime_secs`] ahead, `iat` and `nbf` are not in the future
//!    (each with [`HostTokenRules::leeway_secs`] for clock skew), `role` is `user`, `admin`
//!    or `worker`, `sub` (the host's id: a string or an integer) and `jti` are present,
//!    `name` and `email` are valid, `avatar_url` (or `picture`) is an http(s) URL if given.
//!
//! That the `jti` was not used before is the store's part (`Store::use_token_id`), after
//! this check passed: a forged token never spends an id.

use crate::actor::AccountRole;
use crate::validate;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The only algorithm accepted.
pub const ALGORITHM: &str = "HS256";

/// What a host token must satisfy (from the settings).
#[derive(Clone, Default)]
pub struct HostTokenRules {
    /// `kid` → shared secret (its UTF-8 bytes are the HMAC key, as PHP's `hash_hmac` uses it).
    pub keys: BTreeMap<String, String>,
    /// The `iss` the host puts in its tokens.
    pub issuer: String,
    /// The `aud` the host addresses this chat server with.
    pub audience: String,
    /// `exp` may be at most this far ahead of now.
    pub max_lifetime_secs: i64,
    /// Allowed clock difference between the host and this server.
    pub leeway_secs: i64,
}

impl std::fmt::Debug for HostTokenRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostTokenRules")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("max_lifetime_secs", &self.max_lifetime_secs)
            .finish_non_exhaustive()
    }
}

/// Who the host says the bearer is, once the token passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostClaims {
    pub role: AccountRole,
    /// The host's own id for this person (`sub`), as text.
    pub host_id: String,
    pub profile: HostProfile,
    /// The token's unique id: used once.
    pub jti: String,
    /// Until when the `jti` must be remembered.
    pub expires_at: OffsetDateTime,
}

/// The profile fields the host vouches for; refreshed at every sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostProfile {
    pub name: String,
    pub email: String,
    pub avatar_url: Option<String>,
}

/// Why a host token was refused. The text is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostTokenError {
    #[error("host sign-in is not configured on this server (host_token_keys, issuer, audience)")]
    NotConfigured,
    #[error("not a JWT: {0}")]
    Malformed(String),
    #[error("alg `{0}` refused: only HS256 is accepted")]
    Algorithm(String),
    #[error("unknown kid `{0}`: no such key is configured")]
    UnknownKey(String),
    #[error("the signature does not match")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf or iat is in the future)")]
    NotYetValid,
    #[error("exp is too far ahead: at most {0} seconds are allowed")]
    TooLong(i64),
    #[error("iss does not match this server's configured issuer")]
    Issuer,
    #[error("aud does not name this chat server")]
    Audience,
    #[error("the claim `{0}` is missing")]
    Missing(&'static str),
    #[error("the claim `{claim}` is invalid: {reason}")]
    Claim { claim: &'static str, reason: String },
    #[error("this token was used before (jti replayed)")]
    Replayed,
}

impl HostTokenError {
    /// Stable machine-readable code for the error body.
    pub fn code(&self) -> &'static str {
        match self {
            HostTokenError::NotConfigured => "host_signin_disabled",
            HostTokenError::Malformed(_) => "token_malformed",
            HostTokenError::Algorithm(_) => "token_algorithm",
            HostTokenError::UnknownKey(_) => "token_unknown_key",
            HostTokenError::Signature => "token_signature",
            HostTokenError::Expired => "token_expired",
            HostTokenError::NotYetValid => "token_not_yet_valid",
            HostTokenError::TooLong(_) => "token_lifetime",
            HostTokenError::Issuer => "token_issuer",
            HostTokenError::Audience => "token_audience",
            HostTokenError::Missing(_) | HostTokenError::Claim { .. } => "token_claims",
            HostTokenError::Replayed => "token_replayed",
        }
    }
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, HostTokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| HostTokenError::Malformed(format!("the {what} is not base64url")))
}

fn unix(v: &Value, claim: &'static str) -> Result<OffsetDateTime, HostTokenError> {
    let secs = v
        .as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .ok_or_else(|| HostTokenError::Claim {
            claim,
            reason: "expected seconds since 1970 (a number)".into(),
        })?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| HostTokenError::Claim {
        claim,
        reason: "out of range".into(),
    })
}

fn text<'a>(
    claims: &'a serde_json::Map<String, Value>,
    claim: &'static str,
) -> Result<&'a str, HostTokenError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Err(HostTokenError::Missing(claim)),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(_) => Err(HostTokenError::Claim {
            claim,
            reason: "expected a non-empty string".into(),
        }),
    }
}

/// Verify a host token at `now`. See the module docs for the order of the checks.
pub fn verify(
    token: &str,
    rules: &HostTokenRules,
    now: OffsetDateTime,
) -> Result<HostClaims, HostTokenError> {
    if rules.keys.is_empty() || rules.issuer.is_empty() || rules.audience.is_empty() {
        return Err(HostTokenError::NotConfigured);
    }
    let mut parts = token.trim().split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HostTokenError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let header: Value = serde_json::from_slice(&decode_part(h64, "header")?)
        .map_err(|_| HostTokenError::Malformed("the header is not JSON".into()))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg != ALGORITHM {
        return Err(HostTokenError::Algorithm(alg.to_owned()));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(HostTokenError::Missing("kid"))?;
    let secret = rules
        .keys
        .get(kid)
        .ok_or_else(|| HostTokenError::UnknownKey(kid.chars().take(64).collect()))?;
    let signature = decode_part(s64, "signature")?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| HostTokenError::Signature)?;
    mac.update(h64.as_bytes());
    mac.update(b".");
    mac.update(p64.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| HostTokenError::Signature)?;

    let payload: Value = serde_json::from_slice(&decode_part(p64, "payload")?)
        .map_err(|_| HostTokenError::Malformed("the payload is not JSON".into()))?;
    let Value::Object(claims) = payload else {
        return Err(HostTokenError::Malformed(
            "the payload is not a JSON object".into(),
        ));
    };
    let leeway = time::Duration::seconds(rules.leeway_secs.max(0));

    // Time first: an expired token is expired whatever else it says.
    let exp = unix(
        claims.get("exp").ok_or(HostTokenError::Missing("exp"))?,
        "exp",
    )?;
    if exp + leeway <= now {
        return Err(HostTokenError::Expired);
    }
    if exp - now > time::Duration::seconds(rules.max_lifetime_secs) + leeway {
        return Err(HostTokenError::TooLong(rules.max_lifetime_secs));
    }
    let iat = unix(
        claims.get("iat").ok_or(HostTokenError::Missing("iat"))?,
        "iat",
    )?;
    if iat > now + leeway {
        return Err(HostTokenError::NotYetValid);
    }
    if let Some(nbf) = claims.get("nbf").filter(|v| !v.is_null())
        && unix(nbf, "nbf")? > now + leeway
    {
        return Err(HostTokenError::NotYetValid);
    }

    if text(&claims, "iss")? != rules.issuer {
        return Err(HostTokenError::Issuer);
    }
    let aud_ok = match claims.get("aud") {
        None | Some(Value::Null) => return Err(HostTokenError::Missing("aud")),
        Some(Value::String(a)) => *a == rules.audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&rules.audience)),
        Some(_) => false,
    };
    if !aud_ok {
        return Err(HostTokenError::Audience);
    }

    let role: AccountRole =
        text(&claims, "role")?
            .parse()
            .map_err(|reason| HostTokenError::Claim {
                claim: "role",
                reason,
            })?;
    let host_id = match claims.get("sub") {
        None | Some(Value::Null) => return Err(HostTokenError::Missing("sub")),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 191 => s.trim().to_owned(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(_) => {
            return Err(HostTokenError::Claim {
                claim: "sub",
                reason: "expected the host's id: a string of 1 to 191 characters or an integer"
                    .into(),
            });
        }
    };
    let jti = text(&claims, "jti")?;
    if jti.len() > 255 {
        return Err(HostTokenError::Claim {
            claim: "jti",
            reason: "at most 255 characters".into(),
        });
    }
    let name = validate::name(text(&claims, "name")?).map_err(|e| HostTokenError::Claim {
        claim: "name",
        reason: e.to_string(),
    })?;
    let email = validate::email(text(&claims, "email")?).map_err(|e| HostTokenError::Claim {
        claim: "email",
        reason: e.to_string(),
    })?;
    let avatar = claims
        .get("avatar_url")
        .or_else(|| claims.get("picture"))
        .filter(|v| !v.is_null());
    let avatar_url = match avatar {
        None => None,
        Some(Value::String(u))
            if (u.starts_with("https://") || u.starts_with("http://"))
                && u.len() <= 2048
                && !u.chars().any(char::is_whitespace) =>
        {
            Some(u.clone())
        }
        Some(_) => {
            return Err(HostTokenError::Claim {
                claim: "avatar_url",
                reason: "expected an http(s) URL of at most 2048 characters".into(),
            });
        }
    };
    Ok(HostClaims {
        role,
        host_id,
        profile: HostProfile {
            name,
            email,
            avatar_url,
        },
        jti: jti.to_owned(),
        expires_at: exp,
    })
}

/// Sign claims as the host would (tests, examples, the `host-token` helper). HS256 only.
pub fn sign(kid: &str, secret: &str, claims: &Value) -> String {
    let header = serde_json::json!({"alg": ALGORITHM, "typ": "JWT", "kid": kid});
    sign_with_header(&header, secret, claims)
}

/// Sign with an arbitrary header (tests of refused algorithms).
pub fn sign_with_header(header: &Value, secret: &str, claims: &Value) -> String {
    let h64 = URL_SAFE_NO_PAD.encode(header.to_string());
    let p64 = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return format!("{h64}.{p64}."),
    };
    mac.update(h64.as_bytes());
    mac.update(b".");
    mac.update(p64.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{h64}.{p64}.{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> HostTokenRules {
        HostTokenRules {
            keys: [("k1".to_owned(), "s".repeat(32))].into_iter().collect(),
            issuer: "https://shop.test".into(),
            audience: "nati-chat".into(),
            max_lifetime_secs: 300,
            leeway_secs: 30,
        }
    }

    fn claims(now: i64) -> Value {
        json!({"iss": "https://shop.test", "aud": "nati-chat", "role": "user", "sub": 42,
               "name": "Ann", "email": "ann@shop.test", "iat": now, "exp": now + 120, "jti": "j1"})
    }

    #[test]
    fn a_good_token_passes_and_bad_ones_do_not() {
        let now = OffsetDateTime::now_utc();
        let t = now.unix_timestamp();
        let secret = "s".repeat(32);
        let ok = verify(&sign("k1", &secret, &claims(t)), &rules(), now).expect("valid");
        assert_eq!((ok.role, ok.host_id.as_str()), (AccountRole::User, "42"));
        assert_eq!(
            verify(&sign("k1", "wrong", &claims(t)), &rules(), now),
            Err(HostTokenError::Signature)
        );
        assert_eq!(
            verify(&sign("k2", &secret, &claims(t)), &rules(), now),
            Err(HostTokenError::UnknownKey("k2".into()))
        );
        let none = sign_with_header(&json!({"alg": "none", "kid": "k1"}), &secret, &claims(t));
        assert!(matches!(
            verify(&none, &rules(), now),
            Err(HostTokenError::Algorithm(_))
        ));
        let mut c = claims(t);
        c["exp"] = json!(t + 3600);
        assert_eq!(
            verify(&sign("k1", &secret, &c), &rules(), now),
            Err(HostTokenError::TooLong(300))
        );
        let mut c = claims(t);
        c.as_object_mut().map(|o| o.remove("jti"));
        assert_eq!(
            verify(&sign("k1", &secret, &c), &rules(), now),
            Err(HostTokenError::Missing("jti"))
        );
        assert!(matches!(
            verify("a.b", &rules(), now),
            Err(HostTokenError::Malformed(_))
        ));
    }
}
