//! Password authentication: `[auth]` users with Argon2 PHC password hashes.
//!
//! # Cost
//! A password is checked with the parameters stored in its hash. With the defaults that
//! [`hash_password`] uses (Argon2id, 19 MiB, 2 passes, 1 lane: the OWASP minimum) one check
//! takes about 30 ms of CPU in a release build (measured as the run time of
//! `ringmq hash-password`, which does the same work) and allocates 19 MiB. The check
//! runs synchronously on the shard that received CONNECT, which serves nothing else meanwhile:
//! a burst of password logins (or of wrong passwords) delays that shard's other clients by
//! that much per login. Clients without a user name, and unknown user names, cost nothing.

use std::collections::HashMap;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use mqtt_core::{AuthDecision, AuthRequest, Authenticator};
use mqtt_proto::ConnectReasonCode;

use crate::ConfigError;

/// `[auth]`: who may connect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// `allow_anonymous`: set explicitly, or `None` for the default rule
    /// ([`crate::BrokerConfig::allow_anonymous`]).
    pub allow_anonymous: Option<bool>,
    /// `[[auth.users]]`, in file order.
    pub users: Vec<User>,
}

/// One `[[auth.users]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User name, compared exactly.
    pub username: String,
    /// The password's Argon2 hash (a PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$…`).
    pub password_hash: PasswordHash,
}

impl User {
    /// A user from a PHC string; fails unless it is an Argon2 hash with salt and output.
    pub fn new(username: &str, phc: &str) -> Result<Self, ConfigError> {
        let key = format!("auth.users.password_hash (user {username:?})");
        let hash = PasswordHash::new(phc)
            .map_err(|e| ConfigError::invalid(&key, format!("not a PHC string: {e}")))?;
        if !matches!(hash.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d") {
            return Err(ConfigError::invalid(
                &key,
                format!(
                    "algorithm {} is not Argon2 (make one with `ringmq hash-password`)",
                    hash.algorithm
                ),
            ));
        }
        if hash.salt.is_none() || hash.hash.is_none() {
            return Err(ConfigError::invalid(
                &key,
                "the hash has no salt or no output",
            ));
        }
        Ok(Self {
            username: username.to_owned(),
            password_hash: hash,
        })
    }
}

/// Hashes a password with Argon2id and a random salt, as `ringmq hash-password` prints it.
pub fn hash_password(password: &[u8]) -> Result<String, ConfigError> {
    Argon2::default()
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| ConfigError::Hash(e.to_string()))
}

/// Checks user names and passwords against the configured users; never defers.
///
/// - No user name: allowed iff anonymous access is on, else `NotAuthorized` (0x87 / v3 5).
/// - A user name: the user must exist and the password match its hash, else
///   `BadUserNameOrPassword` (0x86 / v3 4), whether or not anonymous access is on.
/// - Enhanced authentication (an Authentication Method): `BadAuthenticationMethod`.
#[derive(Debug, Clone)]
pub struct PasswordAuthenticator {
    allow_anonymous: bool,
    users: HashMap<String, PasswordHash>,
}

impl PasswordAuthenticator {
    /// An authenticator over `users` (a later entry with the same name wins).
    pub fn new(allow_anonymous: bool, users: &[User]) -> Self {
        Self {
            allow_anonymous,
            users: users
                .iter()
                .map(|u| (u.username.clone(), u.password_hash.clone()))
                .collect(),
        }
    }

    fn verify(&self, username: &str, password: Option<&[u8]>) -> bool {
        let (Some(hash), Some(password)) = (self.users.get(username), password) else {
            return false;
        };
        Argon2::default().verify_password(password, hash).is_ok()
    }
}

impl Authenticator for PasswordAuthenticator {
    fn authenticate(&mut self, req: &AuthRequest) -> AuthDecision {
        if req.method.is_some() {
            // No enhanced authentication method is known.
            return AuthDecision::Deny(ConnectReasonCode::BadAuthenticationMethod);
        }
        match &req.username {
            None if self.allow_anonymous => AuthDecision::Allow { data: None },
            None => AuthDecision::Deny(ConnectReasonCode::NotAuthorized),
            Some(name) => {
                if self.verify(name, req.password.as_deref()) {
                    AuthDecision::Allow { data: None }
                } else {
                    tracing::info!(username = %name, client_id = %req.client_id,
                        "bad user name or password");
                    AuthDecision::Deny(ConnectReasonCode::BadUserNameOrPassword)
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use argon2::password_hash::CustomizedPasswordHasher;
    use argon2::{Algorithm, Params, Version};
    use mqtt_core::{AuthStep, ConnId};
    use mqtt_proto::Bytes;

    /// A cheap hash (8 KiB, 1 pass) so that debug-build tests stay fast.
    pub(crate) fn cheap_hash(password: &str) -> String {
        let params = Params::new(8, 1, 1, None).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_with_params(password.as_bytes(), b"saltsaltsalt", params)
            .unwrap()
            .to_string()
    }

    fn req(username: Option<&str>, password: Option<&str>) -> AuthRequest {
        AuthRequest {
            conn: ConnId(1),
            client_id: "c".into(),
            username: username.map(Into::into),
            password: password.map(|p| Bytes::copy_from_slice(p.as_bytes())),
            peer: None,
            step: AuthStep::Connect,
            method: None,
            data: None,
        }
    }

    fn auth(allow_anonymous: bool) -> PasswordAuthenticator {
        let users = [
            User::new("alice", &cheap_hash("wonderland")).unwrap(),
            User::new("bob", &cheap_hash("builder")).unwrap(),
        ];
        PasswordAuthenticator::new(allow_anonymous, &users)
    }

    const ALLOW: AuthDecision = AuthDecision::Allow { data: None };
    const BAD: AuthDecision = AuthDecision::Deny(ConnectReasonCode::BadUserNameOrPassword);

    #[test]
    fn argon2_right_password_is_allowed() {
        assert_eq!(
            auth(false).authenticate(&req(Some("alice"), Some("wonderland"))),
            ALLOW
        );
        assert_eq!(
            auth(false).authenticate(&req(Some("bob"), Some("builder"))),
            ALLOW
        );
    }

    #[test]
    fn argon2_wrong_password_unknown_user_or_missing_password_is_bad_credentials() {
        let mut a = auth(true);
        assert_eq!(a.authenticate(&req(Some("alice"), Some("builder"))), BAD);
        assert_eq!(a.authenticate(&req(Some("carol"), Some("wonderland"))), BAD);
        assert_eq!(a.authenticate(&req(Some("alice"), None)), BAD);
        assert_eq!(a.authenticate(&req(Some("alice"), Some(""))), BAD);
    }

    #[test]
    fn anonymous_client_depends_on_allow_anonymous() {
        assert_eq!(auth(true).authenticate(&req(None, None)), ALLOW);
        assert_eq!(
            auth(false).authenticate(&req(None, None)),
            AuthDecision::Deny(ConnectReasonCode::NotAuthorized)
        );
    }

    #[test]
    fn enhanced_authentication_method_is_refused() {
        let mut r = req(Some("alice"), Some("wonderland"));
        r.method = Some("SCRAM-SHA-1".into());
        assert_eq!(
            auth(true).authenticate(&r),
            AuthDecision::Deny(ConnectReasonCode::BadAuthenticationMethod)
        );
    }

    #[test]
    fn hash_password_output_verifies_and_is_argon2id() {
        let phc = hash_password(b"s3cret").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let mut a = PasswordAuthenticator::new(false, &[User::new("u", &phc).unwrap()]);
        assert_eq!(a.authenticate(&req(Some("u"), Some("s3cret"))), ALLOW);
        assert_eq!(a.authenticate(&req(Some("u"), Some("s3cret "))), BAD);
    }

    #[test]
    fn user_with_non_argon2_or_malformed_hash_is_refused() {
        let e = User::new("u", "plaintext").unwrap_err().to_string();
        assert!(e.contains("password_hash") && e.contains("\"u\""), "{e}");
        let bcrypt_like = "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        let e = User::new("u", bcrypt_like).unwrap_err().to_string();
        assert!(e.contains("not Argon2"), "{e}");
    }
}
