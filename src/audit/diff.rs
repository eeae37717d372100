//! The values before and after a change, as lines a person can read: one line
//! per field (nested objects flattened to `a.b` paths), marking what changed.

use serde_json::Value;

/// How one field differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    Changed,
    Same,
}

impl Change {
    pub fn label(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
            Change::Same => "unchanged",
        }
    }
}

/// One field of the diff; values are shown as text (strings without quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub change: Change,
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, v, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn fields(v: Option<&Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(v) = v.filter(|v| !v.is_null()) {
        flatten("", v, &mut out);
    }
    out
}

/// Field by field, in the order the fields first appear (before, then
/// fields only the after value has).
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Vec<DiffLine> {
    let b = fields(before);
    let a = fields(after);
    let find = |list: &[(String, String)], path: &str| list.iter().find(|(p, _)| p == path).map(|(_, v)| v.clone());
    let mut lines: Vec<DiffLine> = b
        .iter()
        .map(|(path, old)| {
            let new = find(&a, path);
            let change = match &new {
                None => Change::Removed,
                Some(n) if n == old => Change::Same,
                Some(_) => Change::Changed,
            };
            DiffLine { path: path.clone(), before: Some(old.clone()), after: new, change }
        })
        .collect();
    lines.extend(a.iter().filter(|(p, _)| find(&b, p).is_none()).map(|(path, new)| DiffLine {
        path: path.clone(),
        before: None,
        after: Some(new.clone()),
        change: Change::Added,
    }));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_change_reads_field_by_field() {
        let before =
            json!({ "tier_id": "standard", "version": 3, "limits": { "cpu": 2000, "memory": 8 }, "note": "x" });
        let after =
            json!({ "tier_id": "premium", "version": 4, "limits": { "cpu": 2000, "memory": 32 }, "reason": "growth" });
        let lines = diff(Some(&before), Some(&after));
        let line = |p: &str| lines.iter().find(|l| l.path == p).unwrap().clone();
        assert_eq!(
            line("tier_id"),
            DiffLine {
                path: "tier_id".into(),
                before: Some("standard".into()),
                after: Some("premium".into()),
                change: Change::Changed
            }
        );
        assert_eq!(line("limits.cpu").change, Change::Same);
        assert_eq!(line("limits.memory").change, Change::Changed);
        assert_eq!(line("note").change, Change::Removed);
        assert_eq!(
            line("reason"),
            DiffLine { path: "reason".into(), before: None, after: Some("growth".into()), change: Change::Added }
        );
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn a_creation_or_a_removal_is_all_added_or_all_removed() {
        let v = json!({ "slug": "acme", "compliance": ["gdpr", "sox"] });
        assert!(diff(None, Some(&v)).iter().all(|l| l.change == Change::Added));
        assert!(diff(Some(&v), Some(&Value::Null)).iter().all(|l| l.change == Change::Removed));
        let lines = diff(None, Some(&v));
        assert_eq!(lines[0].after.as_deref(), Some("[\"gdpr\",\"sox\"]"));
        assert!(diff(None, None).is_empty());
    }

    #[test]
    fn a_scalar_value_is_one_unnamed_field() {
        let lines = diff(Some(&json!(1)), Some(&json!(2)));
        assert_eq!(
            lines,
            vec![DiffLine {
                path: String::new(),
                before: Some("1".into()),
                after: Some("2".into()),
                change: Change::Changed
            }]
        );
    }
}
