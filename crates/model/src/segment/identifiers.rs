//! The identifiers a Segment call carries into the rollups, checked by the one rule of their
//! kind ([`crate::ids`]), exactly as a pingback's are:
//! - a Video Spec event's asset ids are item ids and its playback `session_id` a view id
//!   (see [`super::video`]): an invalid one refuses the call with `invalid_item` or
//!   `invalid_view_id`, as the same value in a pingback would be;
//! - a page or screen `name` is a page name, trimmed (`invalid_field`, field `name`);
//! - a webinar event's `properties.type` (engagement or stream type) is an event type,
//!   trimmed (`invalid_field`, field `properties.type`), and its `properties.session_id` a
//!   session id, as the API asks for it (`invalid_field`, field `properties.session_id`).
//!
//! A Video Spec event without an asset or a position is still accepted and kept raw (it is
//! only not bridged); what is refused here is a value that would enter the rollups broken.

use super::video::{VideoSpecError, video_spec_events};
use super::{CallType, Message, MessageError};
use crate::ids::{self, IdKind};
use crate::webinar::WebinarEventKind;
use serde_json::Value;

/// Checks (and normalises) the identifiers of a validated call.
pub(super) fn check_identifiers(m: &mut Message) -> Result<(), MessageError> {
    match m.call {
        CallType::Page | CallType::Screen => {
            if let Some(name) = &m.name {
                let name = ids::check(IdKind::PageName, name).map_err(|e| refusal(&e, "name"))?.to_owned();
                m.name = Some(name);
            }
        }
        CallType::Track => {
            let event = m.event.as_deref().unwrap_or_default();
            if let Some(Err(VideoSpecError::InvalidId { field, error })) = video_spec_events(event, &m.properties) {
                return Err(refusal(&error, field));
            }
            let webinar = !super::video::is_video_spec(event) && WebinarEventKind::classify(event).is_some();
            if webinar && let Some(Value::String(session)) = m.properties.get("session_id") {
                ids::check(IdKind::Session, session).map_err(|e| refusal(&e, "properties.session_id"))?;
            }
            if webinar && let Some(Value::String(kind)) = m.properties.get("type") {
                let kind = ids::check(IdKind::EventType, kind).map_err(|e| refusal(&e, "properties.type"))?.to_owned();
                m.properties.insert("type".into(), Value::String(kind));
            }
        }
        _ => {}
    }
    Ok(())
}

fn refusal(e: &ids::IdError, field: &str) -> MessageError {
    MessageError::new(e.reason(), field, e.to_string())
}
