//! Reports for admins, the arithmetic in one place: per day and per worker, how many chats,
//! how fast the first answer came and how long until the chat was resolved (median and
//! 90th percentile), how many chats were taken from a silent worker, and the average
//! rating. The store hands over one [`ChatFacts`] per chat started in the period; this
//! module only counts.

use crate::ids::{ChatId, WorkerId};
use serde::Serialize;
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

/// Most days one report covers.
pub const MAX_DAYS: i64 = 366;

/// What a report needs to know about one chat.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatFacts {
    pub chat_id: ChatId,
    pub created_at: OffsetDateTime,
    /// The chat's worker now (who answered it, for a closed chat).
    pub worker_id: Option<WorkerId>,
    /// The first message to the customer by staff (not a private note).
    pub first_reply_at: Option<OffsetDateTime>,
    /// When it was closed, if it is.
    pub closed_at: Option<OffsetDateTime>,
    /// 1 to 5, if rated.
    pub rating: Option<i64>,
}

/// One row of a report: a day, a worker, or the whole period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReportRow {
    /// Chats started.
    pub chats: i64,
    /// Of those, answered by staff.
    pub answered: i64,
    /// Of those, closed.
    pub resolved: i64,
    /// Seconds from start to the first answer: median and 90th percentile.
    pub first_response_median_secs: Option<i64>,
    pub first_response_p90_secs: Option<i64>,
    /// Seconds from start to closing: median and 90th percentile.
    pub resolution_median_secs: Option<i64>,
    pub resolution_p90_secs: Option<i64>,
    /// Chats taken from a silent worker (for a worker: from them).
    pub silence_reassignments: i64,
    pub ratings: i64,
    /// Average stars, two decimals; null without ratings.
    pub average_rating: Option<f64>,
}

/// A day's row.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DayRow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    #[serde(flatten)]
    pub row: ReportRow,
}

/// A worker's row (chats whose worker they are now).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WorkerRow {
    pub worker_id: WorkerId,
    pub name: String,
    #[serde(flatten)]
    pub row: ReportRow,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Report {
    /// First and last day, inclusive (UTC).
    pub from: String,
    pub to: String,
    pub total: ReportRow,
    /// Every day of the period, oldest first, days without chats included.
    pub days: Vec<DayRow>,
    /// Workers with chats in the period, by name.
    pub workers: Vec<WorkerRow>,
}

/// The `q`-quantile (nearest rank) of sorted values.
fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn row(chats: &[&ChatFacts], silences: i64) -> ReportRow {
    let secs = |from: OffsetDateTime, to: OffsetDateTime| (to - from).whole_seconds().max(0);
    let mut first: Vec<i64> = chats
        .iter()
        .filter_map(|c| c.first_reply_at.map(|t| secs(c.created_at, t)))
        .collect();
    let mut resolution: Vec<i64> = chats
        .iter()
        .filter_map(|c| c.closed_at.map(|t| secs(c.created_at, t)))
        .collect();
    first.sort_unstable();
    resolution.sort_unstable();
    let stars: Vec<i64> = chats.iter().filter_map(|c| c.rating).collect();
    ReportRow {
        chats: chats.len() as i64,
        answered: first.len() as i64,
        resolved: resolution.len() as i64,
        first_response_median_secs: quantile(&first, 0.5),
        first_response_p90_secs: quantile(&first, 0.9),
        resolution_median_secs: quantile(&resolution, 0.5),
        resolution_p90_secs: quantile(&resolution, 0.9),
        silence_reassignments: silences,
        ratings: stars.len() as i64,
        average_rating: (!stars.is_empty()).then(|| {
            let avg = stars.iter().sum::<i64>() as f64 / stars.len() as f64;
            (avg * 100.0).round() / 100.0
        }),
    }
}

/// The report for the days `from..=to`: `facts` about the chats started then, `silences`
/// as (chat, worker it was taken from, when), and the workers' names.
pub fn build(
    from: Date,
    to: Date,
    facts: &[ChatFacts],
    silences: &[(ChatId, WorkerId, OffsetDateTime)],
    names: &BTreeMap<WorkerId, String>,
) -> Report {
    let all: Vec<&ChatFacts> = facts.iter().collect();
    let mut days = Vec::new();
    let mut day = from;
    loop {
        let todays: Vec<&ChatFacts> = facts
            .iter()
            .filter(|c| c.created_at.date() == day)
            .collect();
        let quiet = silences.iter().filter(|(_, _, t)| t.date() == day).count() as i64;
        days.push(DayRow {
            day: day.to_string(),
            row: row(&todays, quiet),
        });
        match day.next_day() {
            Some(next) if next <= to => day = next,
            _ => break,
        }
    }
    let mut ids: Vec<WorkerId> = facts.iter().filter_map(|c| c.worker_id).collect();
    ids.extend(silences.iter().map(|(_, w, _)| *w));
    ids.sort_unstable_by_key(|w| w.0);
    ids.dedup();
    let mut workers: Vec<WorkerRow> = ids
        .into_iter()
        .map(|w| {
            let theirs: Vec<&ChatFacts> = facts.iter().filter(|c| c.worker_id == Some(w)).collect();
            let quiet = silences.iter().filter(|(_, x, _)| *x == w).count() as i64;
            WorkerRow {
                worker_id: w,
                name: names
                    .get(&w)
                    .cloned()
                    .unwrap_or_else(|| format!("Worker {}", w.0)),
                row: row(&theirs, quiet),
            }
        })
        .collect();
    workers.sort_by(|a, b| a.name.cmp(&b.name));
    Report {
        from: from.to_string(),
        to: to.to_string(),
        total: row(&all, silences.len() as i64),
        days,
        workers,
    }
}

/// The report as CSV: one line per day, then one per worker, then the total. Names are
/// quoted, and a cell that a spreadsheet would take for a formula is prefixed with `'`.
pub fn csv(report: &Report) -> String {
    let mut out = String::from(
        "kind,day,worker_id,worker,chats,answered,resolved,first_response_median_secs,\
         first_response_p90_secs,resolution_median_secs,resolution_p90_secs,\
         silence_reassignments,ratings,average_rating\n",
    );
    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    let line = |out: &mut String, kind: &str, day: &str, id: String, name: &str, r: &ReportRow| {
        out.push_str(&format!(
            "{kind},{day},{id},{},{},{},{},{},{},{},{},{},{},{}\n",
            quote(name),
            r.chats,
            r.answered,
            r.resolved,
            opt(r.first_response_median_secs),
            opt(r.first_response_p90_secs),
            opt(r.resolution_median_secs),
            opt(r.resolution_p90_secs),
            r.silence_reassignments,
            r.ratings,
            r.average_rating
                .map(|a| format!("{a:.2}"))
                .unwrap_or_default(),
        ));
    };
    for d in &report.days {
        line(&mut out, "day", &d.day, String::new(), "", &d.row);
    }
    for w in &report.workers {
        line(
            &mut out,
            "worker",
            "",
            w.worker_id.0.to_string(),
            &w.name,
            &w.row,
        );
    }
    let period = format!("{}..{}", report.from, report.to);
    line(&mut out, "total", &period, String::new(), "", &report.total);
    out
}

/// A CSV cell: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-`
/// or `@` is defused with `'` (spreadsheets would run it as a formula).
fn quote(cell: &str) -> String {
    let cell = if cell.starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    };
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn f(
        id: i64,
        created: OffsetDateTime,
        worker: Option<i64>,
        first: Option<i64>,
        closed: Option<i64>,
        rating: Option<i64>,
    ) -> ChatFacts {
        ChatFacts {
            chat_id: ChatId(id),
            created_at: created,
            worker_id: worker.map(WorkerId),
            first_reply_at: first.map(|s| created + time::Duration::seconds(s)),
            closed_at: closed.map(|s| created + time::Duration::seconds(s)),
            rating,
        }
    }

    #[test]
    fn medians_percentiles_ratings_per_day_and_worker() {
        let d1 = datetime!(2026-12-01 09:00 UTC);
        let d3 = datetime!(2026-12-03 17:30 UTC);
        let facts = [
            f(1, d1, Some(3), Some(60), Some(600), Some(5)),
            f(2, d1, Some(3), Some(120), None, None),
            f(3, d1, Some(4), Some(30), Some(300), Some(2)),
            f(4, d3, None, None, None, None),
        ];
        let names = BTreeMap::from([
            (WorkerId(3), "Walt".to_owned()),
            (WorkerId(4), "Wendy".to_owned()),
        ]);
        let silences = [(ChatId(2), WorkerId(4), d1 + time::Duration::minutes(7))];
        let r = build(
            date!(2026 - 12 - 01),
            date!(2026 - 12 - 03),
            &facts,
            &silences,
            &names,
        );
        assert_eq!(r.days.len(), 3, "every day, quiet ones too");
        assert_eq!(r.days[1].row.chats, 0);
        let day1 = &r.days[0].row;
        assert_eq!((day1.chats, day1.answered, day1.resolved), (3, 3, 2));
        assert_eq!(day1.first_response_median_secs, Some(60));
        assert_eq!(day1.first_response_p90_secs, Some(120));
        assert_eq!(day1.resolution_median_secs, Some(300));
        assert_eq!(day1.resolution_p90_secs, Some(600));
        assert_eq!(day1.silence_reassignments, 1);
        assert_eq!(day1.average_rating, Some(3.5));
        assert_eq!(r.total.chats, 4);
        let names: Vec<&str> = r.workers.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["Walt", "Wendy"]);
        assert_eq!(r.workers[0].row.chats, 2);
        assert_eq!(r.workers[0].row.average_rating, Some(5.0));
        assert_eq!(r.workers[1].row.silence_reassignments, 1);
        let csv = csv(&r);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + 3 + 2 + 1);
        assert_eq!(lines[1], "day,2026-12-01,,,3,3,2,60,120,300,600,1,2,3.50");
        assert!(lines[4].starts_with("worker,,3,Walt,2,2,1,"));
        assert!(lines[6].starts_with("total,2026-12-01..2026-12-03,,,4,"));
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(quote("Walt"), "Walt");
        assert_eq!(quote("Smith, Jo"), "\"Smith, Jo\"");
        assert_eq!(quote("Say \"hi\""), "\"Say \"\"hi\"\"\"");
        assert_eq!(quote("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(quote("-1+2,3"), "\"'-1+2,3\"");
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[7], 0.9), Some(7));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(quantile(&ten, 0.5), Some(5));
        assert_eq!(quantile(&ten, 0.9), Some(9));
    }
}
