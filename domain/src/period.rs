//! Half-open time periods `[start, end)` in UTC and the set arithmetic on sorted lists of them
//! that availability is built from.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A non-empty half-open period `[start, end)` of UTC instants.
///
/// The constructor is the only way in, so every `Period` in the system has `start < end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "RawPeriod")]
pub struct Period {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

#[derive(Deserialize)]
struct RawPeriod {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TryFrom<RawPeriod> for Period {
    type Error = EmptyPeriod;
    fn try_from(raw: RawPeriod) -> Result<Self, Self::Error> {
        Period::new(raw.start, raw.end)
    }
}

/// The end of a period is not after its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the end of a period must be after its start")]
pub struct EmptyPeriod;

impl Period {
    /// A period from `start` (inclusive) to `end` (exclusive); `end` must be after `start`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, EmptyPeriod> {
        if end > start {
            Ok(Self { start, end })
        } else {
            Err(EmptyPeriod)
        }
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// Elapsed time between start and end (not wall-clock time: a DST day is 23 or 25 hours).
    pub fn duration(&self) -> Duration {
        self.end - self.start
    }

    /// Whether the two periods share at least one instant.
    pub fn overlaps(&self, other: &Period) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn contains(&self, other: &Period) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Whether the instant lies inside the period.
    pub fn contains_instant(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }

    /// The common part of two periods, if any.
    pub fn intersect(&self, other: &Period) -> Option<Period> {
        Period::new(self.start.max(other.start), self.end.min(other.end)).ok()
    }

    /// The period widened by `before` at the start and `after` at the end (buffers).
    pub fn widen(&self, before: Duration, after: Duration) -> Period {
        Period {
            start: self.start - before,
            end: self.end + after,
        }
    }
}

/// Sorts the periods and merges the ones that overlap or touch.
pub fn merge(mut periods: Vec<Period>) -> Vec<Period> {
    periods.sort_unstable();
    let mut merged: Vec<Period> = Vec::with_capacity(periods.len());
    for period in periods {
        match merged.last_mut() {
            Some(last) if period.start <= last.end => last.end = last.end.max(period.end),
            _ => merged.push(period),
        }
    }
    merged
}

/// `from − remove`: the parts of `from` that no period of `remove` covers.
///
/// Both inputs must be sorted and merged (as [`merge`] returns them); so is the result.
pub fn subtract(from: &[Period], remove: &[Period]) -> Vec<Period> {
    let mut out = Vec::with_capacity(from.len());
    let mut cut = 0;
    for period in from {
        let mut start = period.start;
        // Skip cuts that end before this period starts; they cannot touch later periods either.
        while cut < remove.len() && remove[cut].end <= start {
            cut += 1;
        }
        let mut i = cut;
        while i < remove.len() && remove[i].start < period.end {
            if remove[i].start > start {
                out.push(Period {
                    start,
                    end: remove[i].start,
                });
            }
            start = start.max(remove[i].end);
            i += 1;
        }
        if start < period.end {
            out.push(Period {
                start,
                end: period.end,
            });
        }
    }
    out
}

/// `a ∩ b` for two sorted, merged lists.
pub fn intersect_all(a: &[Period], b: &[Period]) -> Vec<Period> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if let Some(common) = a[i].intersect(&b[j]) {
            out.push(common);
        }
        if a[i].end <= b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, hour, minute, 0).unwrap()
    }

    fn p(from: (u32, u32), to: (u32, u32)) -> Period {
        Period::new(at(from.0, from.1), at(to.0, to.1)).unwrap()
    }

    #[test]
    fn an_empty_or_reversed_period_cannot_be_built() {
        assert_eq!(Period::new(at(9, 0), at(9, 0)), Err(EmptyPeriod));
        assert_eq!(Period::new(at(10, 0), at(9, 0)), Err(EmptyPeriod));
    }

    #[test]
    fn deserializing_a_reversed_period_fails() {
        let json = r#"{"start":"2026-12-01T10:00:00Z","end":"2026-12-01T09:00:00Z"}"#;
        assert!(serde_json::from_str::<Period>(json).is_err());
    }

    #[test]
    fn touching_periods_do_not_overlap_but_merge() {
        let a = p((9, 0), (10, 0));
        let b = p((10, 0), (11, 0));
        assert!(!a.overlaps(&b));
        assert_eq!(merge(vec![b, a]), vec![p((9, 0), (11, 0))]);
    }

    #[test]
    fn subtracting_cuts_holes_and_trims_edges() {
        let from = vec![p((8, 0), (12, 0)), p((13, 0), (18, 0))];
        let remove = vec![p((7, 0), (9, 0)), p((10, 0), (11, 0)), p((11, 30), (14, 0))];
        assert_eq!(
            subtract(&from, &remove),
            vec![
                p((9, 0), (10, 0)),
                p((11, 0), (11, 30)),
                p((14, 0), (18, 0))
            ]
        );
    }

    #[test]
    fn intersecting_lists_keeps_only_common_parts() {
        let a = vec![p((8, 0), (12, 0)), p((13, 0), (18, 0))];
        let b = vec![p((11, 0), (14, 0))];
        assert_eq!(
            intersect_all(&a, &b),
            vec![p((11, 0), (12, 0)), p((13, 0), (14, 0))]
        );
    }
}
