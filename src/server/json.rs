//! JSON that stays inert wherever it lands.

/// Escapes `<`, `>` and `&` in serialized JSON as `\u003c`, `\u003e` and
/// `\u0026`. Every JSON parser reads the same values back, but no text of a
/// tenant's (`</script>`, `<img onerror=…>`) appears as markup if the document
/// is ever shown as HTML. Those characters occur only inside JSON strings, so
/// replacing them everywhere is exact.
pub fn html_safe(json: String) -> String {
    if !json.contains(['<', '>', '&']) {
        return json;
    }
    json.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_and_reads_back_unchanged() {
        let value = serde_json::json!({ "name": "</script><img src=x onerror=alert(1)> & co" });
        let safe = html_safe(serde_json::to_string(&value).unwrap());
        assert!(!safe.contains(['<', '>', '&']), "{safe}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), value);
    }
}
