//! Usage as CloudEvents 1.0, the format metering tools already speak
//! (OpenMeter, Kong's metering): `POST /api/v1/usage` takes one event in
//! structured mode (`Content-Type: application/cloudevents+json`) or a batch
//! (`application/cloudevents-batch+json`, a JSON array of structured events).
//!
//! The mapping (one event, one sample):
//!
//! | CloudEvents   | sample   |
//! |---------------|----------|
//! | `specversion` | `1.0` only |
//! | `type`        | `bulkhead.usage` only |
//! | `source` + `id` | the sample's id (`"<source> <id>"`, at most 128 characters): unique per tenant, as the spec makes `source` + `id` unique |
//! | `subject`     | the tenant (its slug or id) |
//! | `time`        | the sample's time (RFC 3339) |
//! | `data.metric`, `data.value` | the gauge and its value (`datacontenttype`, when given, is `application/json`) |
//!
//! Every check of a JSON sample applies; a batch with any bad event is
//! refused whole, each problem named by the event's index and attribute.

use super::problem::Problem;
use serde_json::{json, Map, Value};

/// The only event type taken.
pub const TYPE: &str = "bulkhead.usage";

/// How an ingestion request's body is framed, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `{"samples": [...]}` (`application/json`, or no type).
    Samples,
    /// One structured-mode CloudEvent.
    Event,
    /// A CloudEvents batch.
    Batch,
}

impl Framing {
    /// The framing a `Content-Type` names (its parameters ignored); None for a type not taken.
    pub fn of(content_type: Option<&str>) -> Option<Framing> {
        let essence = content_type.unwrap_or("application/json").split(';').next().unwrap_or_default().trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/json" | "" => Some(Framing::Samples),
            "application/cloudevents+json" => Some(Framing::Event),
            "application/cloudevents-batch+json" => Some(Framing::Batch),
            _ => None,
        }
    }
}

/// The attribute a sample's field came from, for problems.
pub fn attribute(field: &'static str) -> &'static str {
    match field {
        "tenant" => "subject",
        "metric" => "data.metric",
        "value" => "data.value",
        "at" => "time",
        "samples" => "batch",
        other => other,
    }
}

/// The events of a body as the samples body the JSON checks read
/// (`{"samples": [...]}`), and the problems only CloudEvents can have.
pub fn as_samples(framing: Framing, body: &Value) -> Result<(Value, Vec<Problem>), Vec<Problem>> {
    let events: Vec<&Value> = match (framing, body) {
        (Framing::Event, Value::Object(_)) => vec![body],
        (Framing::Batch, Value::Array(events)) => events.iter().collect(),
        (Framing::Event, _) => {
            return Err(vec![Problem {
                index: 0,
                field: "event",
                reason: "a structured event is a JSON object".into(),
            }])
        }
        _ => {
            return Err(vec![Problem { index: 0, field: "batch", reason: "a batch is a JSON array of events".into() }])
        }
    };
    let mut problems = Vec::new();
    let samples = events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let mut bad = |field: &'static str, reason: String| problems.push(Problem { index, field, reason });
            let Some(event) = event.as_object() else {
                bad("event", "an event is a JSON object".into());
                return Value::Object(Map::new());
            };
            let text = |name: &str| event.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
            if event.get("specversion").and_then(Value::as_str) != Some("1.0") {
                bad("specversion", "\"1.0\" is the version taken".into());
            }
            if text("type") != Some(TYPE) {
                bad("type", format!("{TYPE:?} is the type taken"));
            }
            let source = text("source");
            if source.is_none() {
                bad("source", "missing (a URI-reference naming the reporter)".into());
            }
            if let Some(kind) = event.get("datacontenttype") {
                let json = kind.as_str().and_then(|k| k.split(';').next()).map(str::trim);
                if !matches!(json, Some("application/json")) {
                    bad("datacontenttype", "data is JSON (application/json)".into());
                }
            }
            if event.contains_key("data_base64") {
                bad("data", "data is a JSON object, not data_base64".into());
            }
            let data = event.get("data").and_then(Value::as_object);
            if data.is_none() {
                bad("data", "missing: {\"metric\": …, \"value\": …}".into());
            }
            let id = match (source, text("id")) {
                (Some(source), Some(id)) if source.len() + id.len() >= 128 => {
                    bad("id", "source and id together name the sample: at most 127 characters between them".into());
                    Value::String(id.to_string())
                }
                (Some(source), Some(id)) => Value::String(format!("{source} {id}")),
                (_, Some(id)) => Value::String(id.to_string()),
                _ => Value::Null,
            };
            let field = |name: &str| data.and_then(|d| d.get(name)).cloned().unwrap_or(Value::Null);
            json!({
                "id": id,
                "tenant": event.get("subject").cloned().unwrap_or(Value::Null),
                "metric": field("metric"),
                "value": field("value"),
                "at": event.get("time").cloned().unwrap_or(Value::Null),
            })
        })
        .collect::<Vec<_>>();
    Ok((json!({ "samples": samples }), problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> Value {
        json!({
            "specversion": "1.0", "type": TYPE, "source": "//collector/eu-1", "id": id, "subject": "acme",
            "time": "2026-11-26T10:00:00Z", "datacontenttype": "application/json",
            "data": { "metric": "users", "value": 12 }
        })
    }

    #[test]
    fn the_content_type_names_the_framing() {
        assert_eq!(Framing::of(None), Some(Framing::Samples));
        assert_eq!(Framing::of(Some("application/json; charset=utf-8")), Some(Framing::Samples));
        assert_eq!(Framing::of(Some("application/cloudevents+json; charset=UTF-8")), Some(Framing::Event));
        assert_eq!(Framing::of(Some("Application/CloudEvents-Batch+JSON")), Some(Framing::Batch));
        assert_eq!(Framing::of(Some("text/plain")), None);
    }

    #[test]
    fn an_event_becomes_a_sample_named_by_source_and_id() {
        let (body, problems) = as_samples(Framing::Event, &event("e-1")).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            body["samples"][0],
            json!({ "id": "//collector/eu-1 e-1", "tenant": "acme", "metric": "users", "value": 12,
                    "at": "2026-11-26T10:00:00Z" })
        );
    }

    #[test]
    fn what_only_a_cloudevent_can_get_wrong_is_named_by_index_and_attribute() {
        let mut wrong = event("e-2");
        wrong["specversion"] = json!("0.3");
        wrong["type"] = json!("com.example.other");
        wrong.as_object_mut().unwrap().remove("source");
        wrong["datacontenttype"] = json!("text/plain");
        let (_, problems) = as_samples(Framing::Batch, &json!([event("e-1"), wrong, 7])).unwrap();
        let named: Vec<(usize, &str)> = problems.iter().map(|p| (p.index, p.field)).collect();
        assert_eq!(named, [(1, "specversion"), (1, "type"), (1, "source"), (1, "datacontenttype"), (2, "event")]);
        let mut long = event("e-3");
        long["source"] = json!(format!("//{}", "c".repeat(130)));
        let (_, problems) = as_samples(Framing::Event, &long).unwrap();
        assert_eq!(problems.iter().map(|p| p.field).collect::<Vec<_>>(), ["id"], "named once, as the sample's id");
        assert!(as_samples(Framing::Batch, &event("e-1")).is_err(), "a batch is an array");
        assert!(as_samples(Framing::Event, &json!([event("e-1")])).is_err(), "an event is an object");
    }
}
