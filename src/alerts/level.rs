//! When a quota alert is raised: levels with hysteresis, so usage hovering at
//! a mark raises one alert per crossing, not one per sample or request.

/// A tenant's standing against one quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Under 80 % (or back under 75 % since the last alert).
    Normal = 0,
    /// 80 % reached, not yet back under 75 %.
    Warning = 1,
    /// 100 % reached, not yet back under 95 %.
    Exceeded = 2,
}

/// What a change of level announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Warning,
    Exceeded,
    Recovered,
}

impl Kind {
    /// The event type (audit action and webhook event).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Warning => "quota.warning",
            Kind::Exceeded => "quota.exceeded",
            Kind::Recovered => "quota.recovered",
        }
    }
}

impl Level {
    pub fn from_i16(v: i16) -> Level {
        match v {
            2 => Level::Exceeded,
            1 => Level::Warning,
            _ => Level::Normal,
        }
    }
}

/// The marks, in per mille of the quota: raised at 800 and 1000, re-armed
/// under 750 and 950.
const WARN: i128 = 800;
const WARN_REARM: i128 = 750;
const EXCEED: i128 = 1000;
const EXCEED_REARM: i128 = 950;

/// The level `used` of `quota` leaves a tenant at, coming from `level`, and
/// the alert the move raises, if any. Integer arithmetic: no rounding at a mark.
pub fn next(level: Level, used: i64, quota: i64) -> (Level, Option<Kind>) {
    if quota <= 0 {
        return (level, None);
    }
    let per_mille = |mark: i128| (used as i128) * 1000 >= (quota as i128) * mark;
    let at_least = if per_mille(EXCEED) {
        Level::Exceeded
    } else if per_mille(WARN) {
        Level::Warning
    } else {
        Level::Normal
    };
    // Falling back happens only under the lower marks.
    let held = match level {
        Level::Exceeded if per_mille(EXCEED_REARM) => Level::Exceeded,
        Level::Exceeded | Level::Warning if per_mille(WARN_REARM) => Level::Warning,
        _ => Level::Normal,
    };
    let new = at_least.max(held);
    let kind = match (level, new) {
        (a, b) if b > a => Some(if b == Level::Exceeded { Kind::Exceeded } else { Kind::Warning }),
        (a, Level::Normal) if a > Level::Normal => Some(Kind::Recovered),
        _ => None,
    };
    (new, kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks `usages` (per cent of a quota of 100) from Normal; the alerts raised.
    fn walk(usages: &[i64]) -> Vec<Kind> {
        let mut level = Level::Normal;
        let mut kinds = Vec::new();
        for u in usages {
            let (l, k) = next(level, *u, 100);
            level = l;
            kinds.extend(k);
        }
        kinds
    }

    #[test]
    fn hovering_at_a_mark_raises_one_alert() {
        assert_eq!(walk(&[79, 80, 79, 81, 78, 80, 76, 99]), [Kind::Warning]);
        assert_eq!(walk(&[100, 96, 101, 95, 100]), [Kind::Exceeded]);
    }

    #[test]
    fn falling_under_the_lower_mark_rearms() {
        assert_eq!(walk(&[80, 74, 80]), [Kind::Warning, Kind::Recovered, Kind::Warning]);
        // From exceeded, under 95 % re-arms the 100 % alert without a word.
        assert_eq!(walk(&[100, 94, 100]), [Kind::Exceeded, Kind::Exceeded]);
        assert_eq!(walk(&[100, 50]), [Kind::Exceeded, Kind::Recovered]);
    }

    #[test]
    fn a_jump_past_both_marks_raises_the_higher() {
        assert_eq!(walk(&[10, 120]), [Kind::Exceeded]);
        assert_eq!(walk(&[85, 120]), [Kind::Warning, Kind::Exceeded]);
    }

    #[test]
    fn marks_hold_exactly_at_huge_values() {
        let quota = 10 * 1024_i64.pow(5);
        assert_eq!(next(Level::Normal, quota / 10 * 8, quota).1, Some(Kind::Warning));
        assert_eq!(next(Level::Normal, quota / 10 * 8 - 1, quota).1, None);
        assert_eq!(next(Level::Normal, i64::MAX, 1).0, Level::Exceeded);
    }
}
