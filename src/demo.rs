//! `serve --demo`: one admin, two workers and two users, so a newcomer can try every panel.
//! Idempotent: accounts that exist are left as they are.

use chat_core::{AccountRole, Store};

pub const DEMO_PASSWORD: &str = "demo-password";

pub const DEMO_ACCOUNTS: [(AccountRole, &str, &str); 5] = [
    (AccountRole::Admin, "admin@nati.test", "Alice Admin"),
    (AccountRole::Worker, "worker1@nati.test", "Walt Worker"),
    (AccountRole::Worker, "worker2@nati.test", "Wendy Worker"),
    (AccountRole::User, "user1@nati.test", "Umar User"),
    (AccountRole::User, "user2@nati.test", "Ursula User"),
];

/// Create the demo accounts that are missing; returns the lines to print.
pub async fn seed(store: &dyn Store) -> Result<Vec<String>, crate::error::ApiError> {
    let mut lines = Vec::new();
    for (role, email, name) in DEMO_ACCOUNTS {
        if store.account_by_email(role, email).await?.is_none() {
            let hashing = crate::hashing::Hashing::default();
            crate::http::admin::create_account(store, &hashing, role, email, name, DEMO_PASSWORD)
                .await?;
        }
        lines.push(format!(
            "demo {role:<6} {email:<20} password {DEMO_PASSWORD}"
        ));
    }
    Ok(lines)
}
