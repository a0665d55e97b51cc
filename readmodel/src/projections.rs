//! The projections, each with its own durable consumer and checkpoint.

use eventstore::Position;

/// A read model built from the events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Projection {
    /// `read.resources` and `read.services`.
    Resources,
    /// `read.bookings`, `read.busy` and `read.series`.
    Bookings,
    /// `read.daily_stats` (with its own `read.stats_*` memory).
    DailyStats,
}

impl Projection {
    pub const ALL: [Projection; 3] = [
        Projection::Resources,
        Projection::Bookings,
        Projection::DailyStats,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Projection::Resources => "resources",
            Projection::Bookings => "bookings",
            Projection::DailyStats => "daily_stats",
        }
    }

    pub fn from_name(name: &str) -> Option<Projection> {
        Projection::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The row in `checkpoints` that holds this projection's position.
    pub fn checkpoint(self) -> &'static str {
        match self {
            Projection::Resources => "projection:resources",
            Projection::Bookings => "projection:bookings",
            Projection::DailyStats => "projection:daily_stats",
        }
    }

    /// The tables this projection owns (the replay tool rebuilds exactly these).
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Projection::Resources => &["resources", "services"],
            Projection::Bookings => &["bookings", "busy", "series"],
            Projection::DailyStats => &["daily_stats", "stats_resources", "stats_bookings"],
        }
    }
}

/// A position every projection in `projections` has reached: the smallest of their checkpoints.
pub fn reached(checkpoints: &[Position]) -> Position {
    checkpoints.iter().copied().min().unwrap_or(Position::START)
}
