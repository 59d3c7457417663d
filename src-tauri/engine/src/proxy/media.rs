//! `GET|HEAD /m/<token>/<name>`: wait until the item's origin has answered,
//! plan the response (see [`super::response`]), then carry the plan out.

use std::sync::Arc;

use http::{Request, Response, StatusCode};

use super::body::{self, ItemBody, ProxyBody};
use super::response::{self, BodyPlan, Offer, ResponsePlan, Unavailable};
use super::text;
use crate::clock::unix_millis;
use crate::download;
use crate::engine::Engine;
use crate::item::{Item, ReaderGuard};

pub(super) async fn serve<B>(req: Request<B>, engine: &Engine, token: &str) -> Response<ProxyBody> {
    if let Some(refused) = response::refuse_method(req.method()) {
        return carry_out(refused, None);
    }
    let Some(item) = engine.catalog().item_by_token(token) else {
        return carry_out(response::unavailable(&Unavailable::NoSuchItem), None);
    };
    // A response holds a reader from the start: the item counts as in use.
    let reader = item.open_reader();
    touch(engine, &item);
    // Until the origin answers, the length is unknown: wait for it.
    if let Err(abort) = item.wait_probed().await {
        return carry_out(response::unavailable(&Unavailable::Aborted(abort)), None);
    }
    let (offer, generation) = offer_of(&item);
    let plan = response::plan(req.method(), req.headers(), &offer, crate::token::secret);
    carry_out(plan, Some((reader, generation)))
}

/// What the item offers now.
fn offer_of(item: &Item) -> (Offer, u64) {
    let st = item.lock();
    let offer = Offer {
        len: st.meta.size,
        // Strong, and new for every version of the origin's file.
        etag: format!("\"{}.{}\"", item.id(), st.meta.generation),
        last_modified: st
            .meta
            .last_modified
            .as_deref()
            .and_then(|lm| httpdate::parse_http_date(lm).ok()),
        content_type: response::content_type(st.meta.content_type.as_deref(), &st.meta.name),
    };
    (offer, st.meta.generation)
}

/// Sends the plan: its status and headers as they are, its body streamed
/// from `source` (the reader and the generation it reads).
fn carry_out(plan: ResponsePlan, source: Option<(ReaderGuard, u64)>) -> Response<ProxyBody> {
    let body = match (plan.body, source) {
        (BodyPlan::Empty, _) => body::empty(),
        (BodyPlan::Text(text), _) => body::full(text),
        (BodyPlan::Item { segments, len }, Some((reader, generation))) => {
            ItemBody::stream(reader, generation, segments, len)
        }
        // Unreachable by construction: item bodies are planned with an item.
        (BodyPlan::Item { .. }, None) => {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "no item to stream");
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = plan.status;
    *response.headers_mut() = plan.headers;
    response
}

/// Records the access for eviction order; saved at once when the item's
/// download is over (no checkpoint would save it), at most once a minute.
fn touch(engine: &Engine, item: &Arc<Item>) {
    let now = unix_millis();
    let stale = {
        let mut st = item.lock();
        let stale = now.saturating_sub(st.meta.last_access) >= 60_000;
        st.meta.last_access = now;
        stale
    };
    if stale {
        let (catalog, item) = (engine.catalog().clone(), item.clone());
        engine
            .tasks()
            .spawn(async move { download::save(&catalog, &item).await });
    }
}
