//! The queue and automatic assignment, the rules in one place.
//!
//! - **The queue**: chats with no worker that are `pending` or `open`, oldest first (by
//!   when they were started). Escalated chats wait for an admin, not for a worker, and a
//!   chat an admin took ("Assign to me": no worker, `assigned_by` the admin) is theirs.
//! - **Modes** ([`RoutingMode`]): `manual` (an admin assigns every chat), `round_robin` (the
//!   next available worker in turn) and `least_busy` (the available worker with the fewest
//!   open chats; ties go in turn).
//! - **Who is available**: an active worker with a panel open and not set to Away (the
//!   realtime hub's presence, across nodes), with fewer open chats than the capacity.
//! - **Capacity** is checked twice: when [`plan`] picks a worker, and again by the writer
//!   inside the transaction that assigns ([`auto_assign`]), with the worker's open chats as
//!   committed and the ones assigned earlier in the same batch; so two nodes, or a burst of
//!   new chats, never take a worker past it.
//!
//! - **Silence** ([`on_silence`]; the stores' `silent_chats` find the candidates): when the assigned worker has not
//!   answered a customer's message within `silence_secs` (counted from the message, or from
//!   the chat's latest system line when that is later: an assignment, a reopening), the chat
//!   goes back to the queue (or to the admins, as escalated), the story says why, and the
//!   router does not give it straight back to the same worker. The writer acts only if
//!   nothing happened in the chat since it was found silent (its `last_seq`), so with
//!   several nodes one acts, once.
//!
//! The settings live in the database (`tbl_chat_settings`, name `routing`), changed by admins
//! (`PUT /api/admin/routing`).

use crate::error::ChatError;
use crate::ids::{ChatId, WorkerId};
use crate::model::{Chat, ChatChange};
use crate::status::ChatStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Most open chats a worker may be given, as a setting.
pub const MAX_CAPACITY: i64 = 50;

/// How new and unassigned chats find a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutingMode {
    /// An admin assigns every chat (the default).
    #[default]
    Manual,
    /// The next available worker in turn.
    RoundRobin,
    /// The available worker with the fewest open chats.
    LeastBusy,
}

impl RoutingMode {
    /// How the chat's story names it.
    pub fn label(self) -> &'static str {
        match self {
            RoutingMode::Manual => "manual",
            RoutingMode::RoundRobin => "round robin",
            RoutingMode::LeastBusy => "least busy",
        }
    }
}

/// Where a chat goes when its worker stays silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SilenceTarget {
    /// Back to the queue, for the next available worker (the default).
    #[default]
    Queue,
    /// To the admins: unassigned and marked "needs admin".
    Admins,
}

/// Most seconds `silence_secs` may be (a day).
pub const MAX_SILENCE_SECS: i64 = 86_400;

/// The routing settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoutingSettings {
    pub mode: RoutingMode,
    /// Most open (not closed) chats a worker is given automatically, 1 to 50, unless
    /// `capacities` says otherwise for them. Admins may still assign more by hand.
    #[schema(minimum = 1, maximum = 50)]
    pub capacity: i64,
    /// Each worker's own capacity, by worker id (0 to 50; 0: none automatically, and no
    /// taking); workers not named have `capacity`.
    #[serde(default)]
    pub capacities: std::collections::BTreeMap<i64, i64>,
    /// Take a chat from a worker who has not answered the customer for this long, in
    /// seconds (0: never; at most a day).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 86400)]
    pub silence_secs: i64,
    /// Where such a chat goes.
    #[serde(default)]
    pub on_silence: SilenceTarget,
    /// Workers may take a waiting chat themselves ("Take"), within their capacity.
    #[serde(default)]
    pub workers_may_take: bool,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        RoutingSettings {
            mode: RoutingMode::Manual,
            capacity: 3,
            capacities: std::collections::BTreeMap::new(),
            silence_secs: 0,
            on_silence: SilenceTarget::Queue,
            workers_may_take: false,
        }
    }
}

impl RoutingSettings {
    /// The settings' name in `tbl_chat_settings`.
    pub const NAME: &'static str = "routing";

    /// The most open chats `worker` is given automatically.
    pub fn capacity_of(&self, worker: WorkerId) -> i64 {
        self.capacities
            .get(&worker.0)
            .copied()
            .unwrap_or(self.capacity)
    }

    /// Check settings an admin sends.
    pub fn validate(self) -> Result<Self, ChatError> {
        if let Some((w, n)) = self
            .capacities
            .iter()
            .find(|(_, n)| !(0..=MAX_CAPACITY).contains(*n))
        {
            return Err(ChatError::invalid(
                "capacities",
                format!("worker {w}: {n} is not 0 to {MAX_CAPACITY}"),
            ));
        }
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(ChatError::invalid(
                "capacity",
                format!("must be 1 to {MAX_CAPACITY}"),
            ));
        }
        if !(0..=MAX_SILENCE_SECS).contains(&self.silence_secs) {
            return Err(ChatError::invalid(
                "silence_secs",
                format!("must be 0 (off) to {MAX_SILENCE_SECS}"),
            ));
        }
        Ok(self)
    }
}

/// Is this chat waiting in the queue? Not when an admin holds it (no worker, but an
/// admin who assigned it: to themselves, "Assign to me").
pub fn is_waiting(chat: &Chat) -> bool {
    chat.worker_id.is_none()
        && chat.assigned_by.is_none()
        && matches!(chat.status, ChatStatus::Pending | ChatStatus::Open)
}

/// An available worker and how many open chats they have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub worker: WorkerId,
    pub open_chats: i64,
}

/// Who gets which waiting chat, in queue order: each chat goes to a worker with room, by
/// the mode; chats for which nobody has room keep waiting. `last` is the worker who was
/// given a chat most recently (round robin continues after them). Pure: the router asks
/// it, the writer checks its answer again.
pub fn plan(
    settings: &RoutingSettings,
    waiting: &[ChatId],
    mut workers: Vec<Candidate>,
    mut last: Option<WorkerId>,
    avoid: &[(ChatId, WorkerId)],
) -> Vec<(ChatId, WorkerId)> {
    if settings.mode == RoutingMode::Manual {
        return Vec::new();
    }
    workers.sort_by_key(|c| c.worker.0);
    workers.dedup_by_key(|c| c.worker);
    let mut out = Vec::new();
    for &chat in waiting {
        let room = |i: &usize| workers[*i].open_chats < settings.capacity_of(workers[*i].worker);
        if !(0..workers.len()).any(|i| room(&i)) {
            break;
        }
        // Not straight back to the worker who left it unanswered.
        let with_room: Vec<usize> = (0..workers.len())
            .filter(room)
            .filter(|&i| !avoid.contains(&(chat, workers[i].worker)))
            .collect();
        if with_room.is_empty() {
            continue;
        }
        // In turn: the first worker (by id) after the last one given a chat, wrapping.
        let in_turn = |among: &[usize]| -> usize {
            let after = last.map_or(i64::MIN, |w| w.0);
            among
                .iter()
                .copied()
                .find(|&i| workers[i].worker.0 > after)
                .unwrap_or(among[0])
        };
        let pick = match settings.mode {
            RoutingMode::RoundRobin => in_turn(&with_room),
            RoutingMode::LeastBusy => {
                let fewest = with_room
                    .iter()
                    .map(|&i| workers[i].open_chats)
                    .min()
                    .unwrap_or(0);
                let tied: Vec<usize> = with_room
                    .iter()
                    .copied()
                    .filter(|&i| workers[i].open_chats == fewest)
                    .collect();
                in_turn(&tied)
            }
            RoutingMode::Manual => unreachable!("manual plans nothing"),
        };
        workers[pick].open_chats += 1;
        last = Some(workers[pick].worker);
        out.push((chat, workers[pick].worker));
    }
    out
}

/// How long `secs` is, in words for the chat's story.
fn span(secs: i64) -> String {
    match secs {
        s if s % 3600 == 0 && s >= 3600 => {
            let h = s / 3600;
            format!("{h} hour{}", if h == 1 { "" } else { "s" })
        }
        s if s % 60 == 0 && s >= 60 => {
            let m = s / 60;
            format!("{m} minute{}", if m == 1 { "" } else { "s" })
        }
        s => format!("{s} second{}", if s == 1 { "" } else { "s" }),
    }
}

/// The words between the worker's name and the time in a silence line.
const SILENT: &str = " did not answer within ";

/// The worker's name in a system line written by [`on_silence`], if it is one (reports
/// count these per worker).
pub fn silent_worker_name(line: &str) -> Option<&str> {
    line.find(SILENT)
        .map(|at| &line[..at])
        .filter(|n| !n.is_empty())
}

/// The writer's check for a silent worker, on the chat as locked: act only if the chat is
/// exactly as it was found (same worker, nothing written since: `seen_seq`), and still
/// waiting for its worker. Otherwise refused, changing nothing.
pub fn on_silence(
    chat: &Chat,
    worker: WorkerId,
    worker_name: &str,
    seen_seq: i64,
    settings: &RoutingSettings,
) -> Result<ChatChange, ChatError> {
    if chat.worker_id != Some(worker)
        || chat.last_seq != seen_seq
        || !matches!(chat.status, ChatStatus::Pending | ChatStatus::Open)
    {
        return Err(ChatError::conflict(
            "the chat changed since it was found silent",
        ));
    }
    let waited = span(settings.silence_secs);
    let (status, note) = match settings.on_silence {
        SilenceTarget::Queue => (
            None,
            format!("{worker_name}{SILENT}{waited}; the chat is back in the queue"),
        ),
        SilenceTarget::Admins => (
            Some(ChatStatus::Escalated),
            format!("{worker_name}{SILENT}{waited}; an admin is asked to take over"),
        ),
    };
    Ok(ChatChange {
        worker_id: Some(None),
        status,
        note: Some(note),
        ..ChatChange::default()
    })
}

/// The writer's check, on the chat as locked and the worker's open chats as committed
/// (plus those given earlier in the batch): the change that assigns the chat, or why not.
pub fn auto_assign(
    chat: &Chat,
    worker: WorkerId,
    worker_name: &str,
    open_chats: i64,
    settings: &RoutingSettings,
    taken: bool,
) -> Result<ChatChange, ChatError> {
    if taken && !settings.workers_may_take {
        return Err(ChatError::forbidden(
            "taking chats from the queue is not allowed (an admin decides, in the Queue tab)",
        ));
    }
    if !is_waiting(chat) {
        return Err(ChatError::conflict("the chat is no longer waiting"));
    }
    let capacity = settings.capacity_of(worker);
    if open_chats >= capacity {
        return Err(ChatError::conflict(format!(
            "{worker_name} has no room ({open_chats} open chats, capacity {capacity})"
        )));
    }
    Ok(ChatChange {
        worker_id: Some(Some(worker)),
        note: Some(if taken {
            format!("{worker_name} took the chat from the queue")
        } else {
            format!(
                "The chat was assigned to {worker_name} (automatic, {})",
                settings.mode.label()
            )
        }),
        ..ChatChange::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(mode: RoutingMode, capacity: i64) -> RoutingSettings {
        RoutingSettings {
            mode,
            capacity,
            ..RoutingSettings::default()
        }
    }

    fn c(w: i64, open: i64) -> Candidate {
        Candidate {
            worker: WorkerId(w),
            open_chats: open,
        }
    }

    fn chats(n: i64) -> Vec<ChatId> {
        (1..=n).map(ChatId).collect()
    }

    #[test]
    fn manual_assigns_nothing() {
        let got = plan(
            &s(RoutingMode::Manual, 3),
            &chats(2),
            vec![c(1, 0)],
            None,
            &[],
        );
        assert!(got.is_empty());
    }

    #[test]
    fn round_robin_goes_in_turn_after_the_last_one() {
        let got = plan(
            &s(RoutingMode::RoundRobin, 5),
            &chats(4),
            vec![c(3, 0), c(1, 4), c(2, 0)],
            Some(WorkerId(1)),
            &[],
        );
        let to: Vec<i64> = got.iter().map(|(_, w)| w.0).collect();
        assert_eq!(to, [2, 3, 1, 2]);
    }

    #[test]
    fn least_busy_fills_the_emptiest_first_and_stops_at_capacity() {
        let got = plan(
            &s(RoutingMode::LeastBusy, 2),
            &chats(5),
            vec![c(1, 1), c(2, 0), c(3, 2)],
            None,
            &[],
        );
        let to: Vec<(i64, i64)> = got.iter().map(|(ch, w)| (ch.0, w.0)).collect();
        // Worker 2 (0 open) first, then 1 and 2 tie at 1 (in turn after 2: 1... then 2);
        // worker 3 is full; chat 4 and 5 wait.
        assert_eq!(to, [(1, 2), (2, 1), (3, 2)]);
    }

    #[test]
    fn the_writer_refuses_a_full_worker_and_a_chat_no_longer_waiting() {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let mut chat = Chat {
            chat_id: ChatId(1),
            user_id: Some(crate::ids::UserId(1)),
            guest_id: None,
            admin_id: None,
            worker_id: None,
            assigned_by: None,
            status: ChatStatus::Pending,
            topic: String::new(),
            last_seq: 1,
            created_at: now,
            updated_at: now,
            last_message_at: None,
        };
        let set = s(RoutingMode::LeastBusy, 2);
        let ok = auto_assign(&chat, WorkerId(4), "Walt", 1, &set, false).expect("room");
        assert_eq!(ok.worker_id, Some(Some(WorkerId(4))));
        assert_eq!(
            ok.note.as_deref(),
            Some("The chat was assigned to Walt (automatic, least busy)")
        );
        assert!(matches!(
            auto_assign(&chat, WorkerId(4), "Walt", 2, &set, false),
            Err(ChatError::Conflict(_))
        ));
        // Taking: only when admins allow it, and within capacity too.
        assert!(matches!(
            auto_assign(&chat, WorkerId(4), "Walt", 0, &set, true),
            Err(ChatError::Forbidden(_))
        ));
        let may = RoutingSettings {
            workers_may_take: true,
            ..set.clone()
        };
        let took = auto_assign(&chat, WorkerId(4), "Walt", 1, &may, true).expect("room");
        assert_eq!(
            took.note.as_deref(),
            Some("Walt took the chat from the queue")
        );
        assert!(auto_assign(&chat, WorkerId(4), "Walt", 2, &may, true).is_err());
        chat.worker_id = Some(WorkerId(5));
        assert!(auto_assign(&chat, WorkerId(4), "Walt", 0, &set, false).is_err());
        chat.worker_id = None;
        chat.status = ChatStatus::Escalated;
        assert!(auto_assign(&chat, WorkerId(4), "Walt", 0, &set, false).is_err());
    }

    #[test]
    fn each_worker_may_have_a_capacity_of_their_own() {
        let mut set = s(RoutingMode::LeastBusy, 1);
        set.capacities.insert(2, 3);
        set.capacities.insert(3, 0);
        let got = plan(&set, &chats(5), vec![c(1, 0), c(2, 0), c(3, 0)], None, &[]);
        let to: Vec<i64> = got.iter().map(|(_, w)| w.0).collect();
        assert_eq!(
            to,
            [1, 2, 2, 2],
            "1 has room for one, 2 for three, 3 for none"
        );
    }

    #[test]
    fn a_chat_does_not_go_straight_back_to_its_silent_worker() {
        let got = plan(
            &s(RoutingMode::LeastBusy, 3),
            &chats(2),
            vec![c(1, 0), c(2, 2)],
            None,
            &[(ChatId(1), WorkerId(1))],
        );
        let to: Vec<(i64, i64)> = got.iter().map(|(ch, w)| (ch.0, w.0)).collect();
        assert_eq!(to, [(1, 2), (2, 1)]);
    }

    #[test]
    fn a_silent_worker_loses_the_chat_once() {
        let t0 = time::OffsetDateTime::UNIX_EPOCH;
        let mut set = s(RoutingMode::Manual, 3);
        set.silence_secs = 300;
        let chat = Chat {
            chat_id: ChatId(1),
            user_id: Some(crate::ids::UserId(1)),
            guest_id: None,
            admin_id: None,
            worker_id: Some(WorkerId(4)),
            assigned_by: None,
            status: ChatStatus::Open,
            topic: String::new(),
            last_seq: 7,
            created_at: t0,
            updated_at: t0,
            last_message_at: None,
        };
        let back = on_silence(&chat, WorkerId(4), "Walt", 7, &set).expect("acts");
        assert_eq!(back.worker_id, Some(None));
        assert_eq!(back.status, None);
        assert_eq!(
            back.note.as_deref(),
            Some("Walt did not answer within 5 minutes; the chat is back in the queue")
        );
        set.on_silence = SilenceTarget::Admins;
        let up = on_silence(&chat, WorkerId(4), "Walt", 7, &set).expect("acts");
        assert_eq!(up.status, Some(ChatStatus::Escalated));
        // Anything since (a message, another node's action): nothing happens.
        assert!(on_silence(&chat, WorkerId(4), "Walt", 6, &set).is_err());
        assert!(on_silence(&chat, WorkerId(5), "Wendy", 7, &set).is_err());
        assert_eq!(
            silent_worker_name(back.note.as_deref().unwrap_or("")),
            Some("Walt")
        );
        assert_eq!(silent_worker_name("Walt closed the chat"), None);
        set.silence_secs = MAX_SILENCE_SECS + 1;
        assert!(set.validate().is_err());
    }

    #[test]
    fn capacity_is_checked() {
        assert!(s(RoutingMode::RoundRobin, 0).validate().is_err());
        assert!(s(RoutingMode::RoundRobin, 51).validate().is_err());
        assert!(s(RoutingMode::RoundRobin, 50).validate().is_ok());
        let mut own = s(RoutingMode::RoundRobin, 3);
        own.capacities.insert(7, 0);
        assert_eq!(own.capacity_of(WorkerId(7)), 0);
        assert_eq!(own.capacity_of(WorkerId(8)), 3);
        assert!(own.clone().validate().is_ok());
        own.capacities.insert(9, 51);
        assert!(own.validate().is_err());
    }

    proptest! {
        /// Whatever the loads and the queue: nobody goes past capacity, chats go in queue
        /// order (a later chat is never served while an earlier one waits), and only the
        /// workers offered are given chats.
        #[test]
        fn a_plan_never_exceeds_capacity(
            loads in proptest::collection::vec(0i64..6, 0..6),
            n in 0i64..20,
            capacity in 1i64..5,
            least in any::<bool>(),
            last in proptest::option::of(0i64..8),
        ) {
            let mode = if least { RoutingMode::LeastBusy } else { RoutingMode::RoundRobin };
            let workers: Vec<Candidate> = loads.iter().enumerate().map(|(i, &l)| c(i as i64, l)).collect();
            let got = plan(&s(mode, capacity), &chats(n), workers.clone(), last.map(WorkerId), &[]);
            let room: i64 = workers.iter().map(|w| (capacity - w.open_chats).max(0)).sum();
            prop_assert_eq!(got.len() as i64, n.min(room));
            let order: Vec<i64> = got.iter().map(|(ch, _)| ch.0).collect();
            prop_assert_eq!(order, (1..=got.len() as i64).collect::<Vec<_>>());
            for w in &workers {
                let given = got.iter().filter(|(_, x)| *x == w.worker).count() as i64;
                prop_assert!(given == 0 || w.open_chats + given <= capacity);
            }
        }
    }
}
