//! `/review/calendar`: scheduled and published posts by week or month, in the viewer's time
//! zone. `views.js` draws the grid from `GET /api/v1/calendar` and moves a post dragged to
//! another day or time through `POST /api/v1/drafts/{id}/schedule` at the revision shown.

use maud::{Markup, html};
use worker::Response;

use super::html::{layout, page_response};
use crate::auth::Actor;
use crate::reply::ApiError;

pub fn page(actor: &Actor) -> Result<Response, ApiError> {
    let body = html! {
        h1 { "Calendar" }
        div class="calendar-bar" id="calendar-bar" {
            div class="segmented" role="group" aria-label="View" {
                button type="button" data-view="week" { "Week" }
                button type="button" data-view="month" { "Month" }
            }
            button type="button" id="calendar-prev" aria-label="Earlier" { "‹" }
            button type="button" id="calendar-today" { "Today" }
            button type="button" id="calendar-next" aria-label="Later" { "›" }
            h2 id="calendar-title" aria-live="polite" {}
            label { "Time zone " select id="calendar-zone" {} }
        }
        p class="hint" { "Drag a scheduled post to another day or time to move it; or tap its “Move”, then the day or hour to move it to." }
        p id="calendar-status" role="status" {}
        div id="calendar" class="calendar" {
            noscript { p class="empty" { "The calendar needs JavaScript; " a href="/review/up-next" { "Up next" } " lists the same posts." } }
        }
        (time_dialog("Move the post", "Move"))
        script src="/review/assets/views.js" defer {}
    };
    page_response(200, layout("Calendar", Some(&actor.name), body))
}

/// The dialog where a time is typed, or chosen when the clocks skip or repeat the time given
/// (`views.js`): the calendar's moves and the list's bulk rescheduling share it.
pub fn time_dialog(heading: &str, confirm: &str) -> Markup {
    html! {
        dialog id="move-dialog" {
            form method="dialog" id="move-form" {
                h2 { (heading) }
                label for="move-at" { "New time" }
                input id="move-at" type="datetime-local" required;
                p id="move-zone" class="hint" {}
                div id="move-choices" {}
                menu {
                    button type="submit" value="cancel" formnovalidate { "Cancel" }
                    button type="submit" value="move" class="primary" id="move-confirm" { (confirm) }
                }
            }
        }
    }
}
