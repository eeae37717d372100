//! Free text that a person names or describes a thing with: tenant names,
//! tier terms, reasons. Stored as people will read it, so it is normalised
//! and must be visible, and it cannot hide or reorder what it shows.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

const ZERO_WIDTH_NON_JOINER: char = '\u{200C}';
const ZERO_WIDTH_JOINER: char = '\u{200D}';
const BLACK_FLAG: char = '\u{1F3F4}';

/// Letters that draw nothing (Hangul fillers, the braille blank): a name of
/// them alone would look empty.
const BLANK_LETTERS: &[char] = &['\u{115F}', '\u{1160}', '\u{2800}', '\u{3164}', '\u{FFA0}'];

/// Parses a one-line text: trimmed, normalised to NFC, with at least one
/// visible character and no control or invisible formatting character
/// (bidirectional controls included), except the joiners that emoji and
/// Indic scripts need inside a word. The error says what is wrong.
pub fn parse_line(input: &str) -> Result<String, String> {
    let text: String = input.trim().nfc().collect();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_control() {
            return Err(format!("Remove the control character {} (line breaks and tabs included).", code_point(c)));
        }
        if c == '\u{2028}' || c == '\u{2029}' {
            return Err(format!("Remove the line separator {}.", code_point(c)));
        }
        if c.general_category() != GeneralCategory::Format || allowed_format(&chars, i) {
            continue;
        }
        return Err(if is_bidi_control(c) {
            format!(
                "Remove the bidirectional control {}: it makes text display in another order than it is stored.",
                code_point(c)
            )
        } else {
            format!("Remove the invisible character {}.", code_point(c))
        });
    }
    if !chars.iter().any(|&c| is_visible(c)) {
        return Err("Use at least one visible character.".into());
    }
    Ok(text)
}

/// An optional form or query value: trimmed, and `None` when nothing is left.
pub fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Joiners inside a word (between two characters of it), and the tag characters of an
/// emoji flag sequence (🏴 followed by tags), are part of how a word is written.
fn allowed_format(chars: &[char], i: usize) -> bool {
    let c = chars[i];
    if c == ZERO_WIDTH_JOINER || c == ZERO_WIDTH_NON_JOINER {
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 1).copied();
        return matches!((before, after), (Some(b), Some(a)) if in_word(b) && in_word(a));
    }
    if ('\u{E0020}'..='\u{E007F}').contains(&c) {
        return chars[..i].iter().rev().find(|p| !('\u{E0020}'..='\u{E007F}').contains(*p)) == Some(&BLACK_FLAG);
    }
    false
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` can stand inside a written word (marks included).
fn in_word(c: char) -> bool {
    use GeneralCategory::*;
    !c.is_whitespace()
        && !matches!(c.general_category(), Control | Format | SpaceSeparator | LineSeparator | ParagraphSeparator)
}

/// Whether `c` draws something on its own.
fn is_visible(c: char) -> bool {
    use GeneralCategory::*;
    !c.is_whitespace()
        && !BLANK_LETTERS.contains(&c)
        && !matches!(
            c.general_category(),
            Control | Format | SpaceSeparator | LineSeparator | ParagraphSeparator | NonspacingMark | EnclosingMark
        )
}

fn code_point(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_names_pass_trimmed() {
        assert_eq!(parse_line("  Acme Corp  ").unwrap(), "Acme Corp");
        assert_eq!(parse_line("Société Générale").unwrap(), "Société Générale");
        assert_eq!(parse_line("日本株式会社").unwrap(), "日本株式会社");
        assert_eq!(
            parse_line("Evil</title><script>").unwrap(),
            "Evil</title><script>",
            "markup is text, escaped on output"
        );
    }

    #[test]
    fn text_is_stored_in_nfc() {
        let decomposed = "Cafe\u{0301}";
        assert_eq!(parse_line(decomposed).unwrap(), "Caf\u{00E9}");
    }

    #[test]
    fn invisible_names_are_refused() {
        for blank in ["\u{200B}", "\u{200B}\u{200B}", " \u{3164} ", "\u{2800}", "\u{0301}", "\u{FEFF}"] {
            assert!(parse_line(blank).is_err(), "{blank:?}");
        }
        assert_eq!(parse_line("\u{200B}").unwrap_err(), "Remove the invisible character U+200B.");
        assert_eq!(parse_line("   ").unwrap_err(), "Use at least one visible character.");
    }

    #[test]
    fn bidirectional_controls_are_refused_and_named() {
        let err = parse_line("Acme\u{202E}gnp.exe").unwrap_err();
        assert!(err.contains("bidirectional control U+202E"), "{err}");
        for c in ['\u{200E}', '\u{200F}', '\u{2066}', '\u{2069}', '\u{061C}'] {
            assert!(parse_line(&format!("a{c}b")).unwrap_err().contains("bidirectional"), "{c:?}");
        }
    }

    #[test]
    fn control_characters_and_line_breaks_are_refused() {
        for c in ['\u{0}', '\n', '\t', '\u{7F}', '\u{85}', '\u{2028}'] {
            assert!(parse_line(&format!("a{c}b")).is_err(), "{c:?}");
        }
    }

    #[test]
    fn joiners_pass_inside_a_word_only() {
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(parse_line(family).unwrap(), family);
        let hindi = "\u{0915}\u{094D}\u{200D}\u{0937}";
        assert!(parse_line(hindi).is_ok());
        let persian = "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}";
        assert!(parse_line(persian).is_ok());
        assert!(parse_line("\u{200D}Acme").is_err());
        assert!(parse_line("Acme \u{200D} Corp").is_err());
        let scotland = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}";
        assert_eq!(parse_line(scotland).unwrap(), scotland);
        assert!(parse_line("Acme\u{E0067}").is_err(), "a tag character outside a flag hides text");
    }

    proptest! {
        #[test]
        fn accepted_text_is_visible_normalised_and_free_of_format_characters(s in "\\PC{0,40}") {
            if let Ok(v) = parse_line(&s) {
                prop_assert!(v.chars().any(is_visible));
                prop_assert!(v.chars().all(|c| !c.is_control()));
                prop_assert!(v.chars().all(|c| !is_bidi_control(c)));
                prop_assert_eq!(v.nfc().collect::<String>(), v.clone());
                prop_assert_eq!(v.trim(), v.as_str());
            }
        }

        #[test]
        fn bidi_controls_anywhere_are_refused(a in "[a-z]{0,8}", b in "[a-z]{0,8}", c in prop::sample::select(vec!['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'])) {
            let text = format!("{a}{c}{b}");
            prop_assert!(parse_line(&text).is_err());
        }
    }
}
