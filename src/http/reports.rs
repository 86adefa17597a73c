//! Reports for admins: per day and per worker, over a period (the arithmetic is
//! `chat_core::reports`), as JSON for the panel's Reports tab or as CSV.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chat_core::policy::require_admin;
use chat_core::reports::{self, MAX_DAYS, Report};
use chat_core::routing::silent_worker_name;
use chat_core::{AccountRole, WorkerId};
use serde::Deserialize;
use std::collections::BTreeMap;
use time::{Date, Duration, OffsetDateTime, Time};
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First day, `YYYY-MM-DD` (UTC); default: six days before `to`.
    #[param(pattern = r"^\d{4}-\d{2}-\d{2}$")]
    pub from: Option<String>,
    /// Last day, inclusive, `YYYY-MM-DD` (UTC); default: today. At most 366 days in all.
    #[param(pattern = r"^\d{4}-\d{2}-\d{2}$")]
    pub to: Option<String>,
    /// `json` (the default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

fn day(field: &str, v: &str) -> ApiResult<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(v, fmt)
        .map_err(|_| ApiError::Unprocessable(format!("{field}: a date as YYYY-MM-DD")))
}

/// GET /api/admin/reports — chats, first response and resolution times (median, p90),
/// chats taken from silent workers and ratings, per day and per worker (admins). With
/// `format=csv`, the same as a CSV file.
#[utoipa::path(get, path = "/api/admin/reports", tag = "admin", params(ReportQuery),
    responses((status = 200, body = Report, description = "the report; `text/csv` with format=csv"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn report(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    require_admin(&who.actor)?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::Unprocessable("format: json or csv".into())),
    };
    let today = OffsetDateTime::now_utc().date();
    let to =
        q.to.as_deref()
            .map(|v| day("to", v))
            .transpose()?
            .unwrap_or(today);
    let out_of_range = || ApiError::Unprocessable("to: a date out of range".into());
    let from = match q.from.as_deref() {
        Some(v) => day("from", v)?,
        None => to.checked_sub(Duration::days(6)).ok_or_else(out_of_range)?,
    };
    if from.year() < 1970 {
        return Err(ApiError::Unprocessable("from: a day from 1970 on".into()));
    }
    if from > to {
        return Err(ApiError::Unprocessable("from: must not be after to".into()));
    }
    if (to - from).whole_days() >= MAX_DAYS {
        return Err(ApiError::Unprocessable(format!(
            "to: at most {MAX_DAYS} days in one report"
        )));
    }
    let start = from.with_time(Time::MIDNIGHT).assume_utc();
    let end = to
        .checked_add(Duration::days(1))
        .ok_or_else(out_of_range)?
        .with_time(Time::MIDNIGHT)
        .assume_utc();
    let facts = state.store.report_facts(start, end).await?;
    let workers = state.store.list_accounts(Some(AccountRole::Worker)).await?;
    let by_name: BTreeMap<&str, WorkerId> = workers
        .iter()
        .map(|a| (a.name.as_str(), WorkerId(a.id)))
        .collect();
    let silences: Vec<_> = state
        .store
        .silence_lines(start, end)
        .await?
        .into_iter()
        .filter_map(|(chat, line, at)| {
            let w = by_name.get(silent_worker_name(&line)?)?;
            Some((chat, *w, at))
        })
        .collect();
    let names: BTreeMap<WorkerId, String> = workers
        .iter()
        .map(|a| (WorkerId(a.id), a.name.clone()))
        .collect();
    let r = reports::build(from, to, &facts, &silences, &names);
    if csv {
        let name = format!(
            "attachment; filename=\"nati-chat-report-{}-{}.csv\"",
            r.from, r.to
        );
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, name),
            ],
            reports::csv(&r),
        )
            .into_response())
    } else {
        Ok(axum::Json(r).into_response())
    }
}
