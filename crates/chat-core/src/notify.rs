//! Who is emailed about a message left unread, and when. The rules, in one place:
//!
//! - A **customer's** message (user or guest) is for staff: the assigned worker, and each
//!   admin whose preference covers the chat (`all` chats, `unassigned` ones, `escalated`
//!   ones, or `none`).
//! - A **staff** message (admin or worker) is for the customer: the user, or the guest if
//!   the guest gave an email.
//! - Never the sender; never a system message; never anyone whose email is off.
//! - The email is due when the message has stayed unread for the recipient's delay; at
//!   send time the read position is checked again, so a message read in time sends
//!   nothing. Quiet hours postpone, they do not drop.

use crate::actor::Actor;
use crate::ids::AdminId;
use crate::model::{AdminEmailScope, Chat, Preferences};
use crate::status::ChatStatus;
use time::{Duration, OffsetDateTime};

/// One person to email about one message, and after how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub recipient: Actor,
    pub delay_secs: i64,
}

/// Where a missed message is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// By email: only to people whose email is on (and guests who gave an address).
    Email,
    /// To the host's bell, as a `message.missed` webhook: the same people at the same
    /// moment, whatever their email switch says, and guests with or without an address.
    Webhook,
}

/// Who should hear about `sender`'s message in `chat` by email, given the preferences of
/// the assigned worker and customer (`None`: defaults) and every active admin.
pub fn recipients(
    chat: &Chat,
    sender: &Actor,
    worker_prefs: Option<&Preferences>,
    user_prefs: Option<&Preferences>,
    guest_has_email: bool,
    guest_delay_secs: i64,
    admins: &[(AdminId, Preferences)],
) -> Vec<Due> {
    recipients_on(
        Channel::Email,
        chat,
        sender,
        worker_prefs,
        user_prefs,
        guest_has_email,
        guest_delay_secs,
        admins,
    )
}

/// [`recipients`] for a channel: the same rule, the same delays; [`Channel::Webhook`]
/// ignores the email switch and whether a guest gave an address.
#[allow(clippy::too_many_arguments)]
pub fn recipients_on(
    channel: Channel,
    chat: &Chat,
    sender: &Actor,
    worker_prefs: Option<&Preferences>,
    user_prefs: Option<&Preferences>,
    guest_has_email: bool,
    guest_delay_secs: i64,
    admins: &[(AdminId, Preferences)],
) -> Vec<Due> {
    let on = |p: &Preferences| channel == Channel::Webhook || p.email_enabled;
    let guest_has_email = guest_has_email || channel == Channel::Webhook;
    let mut out = Vec::new();
    if sender.is_customer() {
        if let (Some(w), Some(p)) = (chat.worker_id, worker_prefs)
            && on(p)
        {
            out.push(Due {
                recipient: Actor::Worker(w),
                delay_secs: p.email_delay_secs,
            });
        }
        for (id, p) in admins {
            let wants = on(p)
                && match p.admin_scope {
                    AdminEmailScope::All => true,
                    AdminEmailScope::Unassigned => chat.worker_id.is_none(),
                    AdminEmailScope::Escalated => chat.status == ChatStatus::Escalated,
                    AdminEmailScope::None => false,
                };
            if wants {
                out.push(Due {
                    recipient: Actor::Admin(*id),
                    delay_secs: p.email_delay_secs,
                });
            }
        }
    } else {
        match (chat.user_id, chat.guest_id) {
            (Some(u), _) => {
                if let Some(p) = user_prefs
                    && on(p)
                {
                    out.push(Due {
                        recipient: Actor::User(u),
                        delay_secs: p.email_delay_secs,
                    });
                }
            }
            (None, Some(g)) if guest_has_email => out.push(Due {
                recipient: Actor::Guest(g),
                delay_secs: guest_delay_secs,
            }),
            _ => {}
        }
    }
    out.retain(|d| d.recipient != *sender);
    out
}

/// Whether `name` is a time zone this server knows: an IANA name as browsers give them
/// (`Intl.DateTimeFormat().resolvedOptions().timeZone`), such as "Europe/Berlin" or "UTC".
pub fn known_time_zone(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && jiff::tz::TimeZone::get(name).is_ok()
}

/// If `now` falls in the quiet hours (the account's local hours in its `time_zone`, `start`
/// inclusive to `end` exclusive, possibly across midnight), the moment they end: the next
/// `end`:00 on the account's clock, daylight saving included. An unknown zone counts as UTC.
pub fn quiet_until(prefs: &Preferences, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let (Some(start), Some(end)) = (prefs.quiet_start_hour, prefs.quiet_end_hour) else {
        return None;
    };
    if start == end {
        return None;
    }
    let tz = jiff::tz::TimeZone::get(&prefs.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let at = jiff::Timestamp::from_nanosecond(now.unix_timestamp_nanos()).ok()?;
    let local = at.to_zoned(tz.clone());
    let h = i32::from(local.hour());
    let inside = if start < end {
        h >= start && h < end
    } else {
        h >= start || h < end
    };
    if !inside {
        return None;
    }
    let end = i8::try_from(end).ok()?;
    let mut day = local.date();
    // Today's end, or tomorrow's when today's has passed; in a gap (clocks jump forward
    // over `end`:00) the first moment after it.
    let until = loop {
        let t = day.at(end, 0, 0, 0).to_zoned(tz.clone()).ok()?.timestamp();
        if t > at {
            break t;
        }
        day = day.tomorrow().ok()?;
    };
    OffsetDateTime::from_unix_timestamp_nanos(until.as_nanosecond()).ok()
}

/// Wait before retry `attempt` (1-based): `base`·2^(attempt−1), at most an hour.
pub fn backoff(base_secs: u64, attempt: u32) -> Duration {
    let factor = 1u64 << attempt.saturating_sub(1).min(16);
    Duration::seconds(base_secs.saturating_mul(factor).min(3600) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccountRole;
    use crate::ids::*;
    use time::macros::datetime;

    fn chat(worker: Option<i64>, status: ChatStatus, user: bool) -> Chat {
        let t = OffsetDateTime::UNIX_EPOCH;
        Chat {
            chat_id: ChatId(1),
            user_id: user.then_some(UserId(5)),
            guest_id: (!user).then_some(GuestId(6)),
            admin_id: None,
            worker_id: worker.map(WorkerId),
            assigned_by: None,
            status,
            topic: String::new(),
            last_seq: 0,
            created_at: t,
            updated_at: t,
            last_message_at: None,
        }
    }

    fn admin(scope: AdminEmailScope) -> Preferences {
        Preferences {
            admin_scope: scope,
            ..Preferences::defaults_for(AccountRole::Admin)
        }
    }

    #[test]
    fn customer_messages_go_to_the_worker_and_interested_admins() {
        let p = Preferences::defaults_for(AccountRole::Worker);
        let admins = [
            (AdminId(1), admin(AdminEmailScope::All)),
            (AdminId(2), admin(AdminEmailScope::Unassigned)),
            (AdminId(3), admin(AdminEmailScope::Escalated)),
            (AdminId(4), admin(AdminEmailScope::None)),
        ];
        let user = Actor::User(UserId(5));
        let got = recipients(
            &chat(Some(9), ChatStatus::Open, true),
            &user,
            Some(&p),
            None,
            false,
            60,
            &admins,
        );
        let who: Vec<Actor> = got.iter().map(|d| d.recipient).collect();
        assert_eq!(who, [Actor::Worker(WorkerId(9)), Actor::Admin(AdminId(1))]);
        let got = recipients(
            &chat(None, ChatStatus::Escalated, true),
            &user,
            None,
            None,
            false,
            60,
            &admins,
        );
        let who: Vec<Actor> = got.iter().map(|d| d.recipient).collect();
        assert_eq!(
            who,
            [
                Actor::Admin(AdminId(1)),
                Actor::Admin(AdminId(2)),
                Actor::Admin(AdminId(3))
            ]
        );
        let mut off = p.clone();
        off.email_enabled = false;
        assert!(
            recipients(
                &chat(Some(9), ChatStatus::Open, true),
                &user,
                Some(&off),
                None,
                false,
                60,
                &[]
            )
            .is_empty()
        );
    }

    #[test]
    fn staff_messages_go_to_the_customer_never_the_sender() {
        let p = Preferences::defaults_for(AccountRole::User);
        let w = Actor::Worker(WorkerId(9));
        let got = recipients(
            &chat(Some(9), ChatStatus::Open, true),
            &w,
            None,
            Some(&p),
            false,
            60,
            &[],
        );
        assert_eq!(
            got,
            [Due {
                recipient: Actor::User(UserId(5)),
                delay_secs: 600
            }]
        );
        let got = recipients(
            &chat(Some(9), ChatStatus::Open, false),
            &w,
            None,
            None,
            true,
            42,
            &[],
        );
        assert_eq!(
            got,
            [Due {
                recipient: Actor::Guest(GuestId(6)),
                delay_secs: 42
            }]
        );
        assert!(
            recipients(
                &chat(Some(9), ChatStatus::Open, false),
                &w,
                None,
                None,
                false,
                42,
                &[]
            )
            .is_empty()
        );
        // An admin writing is not emailed about their own message even with scope "all".
        let a = Actor::Admin(AdminId(1));
        let admins = [(AdminId(1), admin(AdminEmailScope::All))];
        let got = recipients(
            &chat(None, ChatStatus::Open, true),
            &a,
            None,
            Some(&p),
            false,
            60,
            &admins,
        );
        assert_eq!(
            got.iter().map(|d| d.recipient).collect::<Vec<_>>(),
            [Actor::User(UserId(5))]
        );
    }

    #[test]
    fn the_bell_hears_of_missed_messages_whatever_the_email_switch() {
        let mut off = Preferences::defaults_for(AccountRole::User);
        off.email_enabled = false;
        let w = Actor::Worker(WorkerId(9));
        let c = chat(Some(9), ChatStatus::Open, true);
        assert!(recipients(&c, &w, None, Some(&off), false, 60, &[]).is_empty());
        let got = recipients_on(Channel::Webhook, &c, &w, None, Some(&off), false, 60, &[]);
        assert_eq!(got[0].recipient, Actor::User(UserId(5)));
        assert_eq!(
            got[0].delay_secs, 600,
            "at the same moment the email would be due"
        );
        let g = chat(Some(9), ChatStatus::Open, false);
        let got = recipients_on(Channel::Webhook, &g, &w, None, None, false, 42, &[]);
        assert_eq!(got[0].recipient, Actor::Guest(GuestId(6)));
    }

    #[test]
    fn quiet_hours_postpone_to_their_end() {
        let mut p = Preferences::defaults_for(AccountRole::User);
        assert_eq!(quiet_until(&p, datetime!(2026-01-01 23:00 UTC)), None);
        p.quiet_start_hour = Some(22);
        p.quiet_end_hour = Some(7);
        assert_eq!(
            quiet_until(&p, datetime!(2026-01-01 23:30 UTC)),
            Some(datetime!(2026-01-02 07:00 UTC))
        );
        assert_eq!(
            quiet_until(&p, datetime!(2026-01-02 03:00 UTC)),
            Some(datetime!(2026-01-02 07:00 UTC))
        );
        assert_eq!(quiet_until(&p, datetime!(2026-01-02 12:00 UTC)), None);
        p.quiet_start_hour = Some(9);
        p.quiet_end_hour = Some(17);
        assert_eq!(
            quiet_until(&p, datetime!(2026-01-02 12:00 UTC)),
            Some(datetime!(2026-01-02 17:00 UTC))
        );
        assert_eq!(quiet_until(&p, datetime!(2026-01-02 17:00 UTC)), None);
    }

    #[test]
    fn quiet_hours_are_the_accounts_own_local_hours() {
        let mut p = Preferences::defaults_for(AccountRole::User);
        p.quiet_start_hour = Some(22);
        p.quiet_end_hour = Some(7);
        p.time_zone = "Europe/Berlin".into();
        // Winter (UTC+1): 21:30 UTC is 22:30 in Berlin, quiet until 07:00 Berlin = 06:00 UTC.
        assert_eq!(
            quiet_until(&p, datetime!(2026-01-10 21:30 UTC)),
            Some(datetime!(2026-01-11 06:00 UTC))
        );
        // 06:30 UTC is 07:30 in Berlin: not quiet, though it would be in UTC.
        assert_eq!(quiet_until(&p, datetime!(2026-01-11 06:30 UTC)), None);
        // Summer (UTC+2): quiet ends at 05:00 UTC.
        assert_eq!(
            quiet_until(&p, datetime!(2026-07-10 23:00 UTC)),
            Some(datetime!(2026-07-11 05:00 UTC))
        );
        // The night the clocks go forward (29 March 2026, 02:00 -> 03:00): 07:00 is UTC+2.
        assert_eq!(
            quiet_until(&p, datetime!(2026-03-28 23:00 UTC)),
            Some(datetime!(2026-03-29 05:00 UTC))
        );
        // West of UTC, across the date line of UTC: 22:00-07:00 in New York (UTC-5).
        p.time_zone = "America/New_York".into();
        assert_eq!(
            quiet_until(&p, datetime!(2026-01-11 04:00 UTC)),
            Some(datetime!(2026-01-11 12:00 UTC))
        );
        assert_eq!(quiet_until(&p, datetime!(2026-01-11 13:00 UTC)), None);
        // An end hour that the clocks skip: 02:00 on 29 March does not exist in Berlin.
        p.time_zone = "Europe/Berlin".into();
        p.quiet_start_hour = Some(0);
        p.quiet_end_hour = Some(2);
        assert_eq!(
            quiet_until(&p, datetime!(2026-03-28 23:30 UTC)),
            Some(datetime!(2026-03-29 01:00 UTC))
        );
    }

    #[test]
    fn time_zones_are_iana_names() {
        for ok in [
            "UTC",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "Asia/Kolkata",
        ] {
            assert!(known_time_zone(ok), "{ok}");
        }
        for bad in ["", "Mars/Olympus", "Europe/Berlin; DROP", &"A".repeat(65)] {
            assert!(!known_time_zone(bad), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(30, 1), Duration::seconds(30));
        assert_eq!(backoff(30, 2), Duration::seconds(60));
        assert_eq!(backoff(30, 4), Duration::seconds(240));
        assert_eq!(backoff(30, 30), Duration::seconds(3600));
    }
}
